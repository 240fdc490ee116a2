/*
 * fuzz_mqtt_url.c - libFuzzer target for the MQTT broker URL and telemetry
 * topic parsers: whatever they accept is well formed (a port in range, a
 * non-empty host without brackets or slashes; a device id without '/').
 */
#include "domain/mqtt_url.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mqtt_url u;
	char *s = malloc(size + 1), id[200];

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (mqtt_url_parse(s, &u) == 0 &&
	    (u.port < 1 || u.port > 65535 || u.host[0] == '\0' || strpbrk(u.host, "[]/@ ")))
		abort();
	if (mqtt_topic_device(s, id, sizeof(id)) &&
	    (id[0] == '\0' || strchr(id, '/') || strchr(id, '+') || strchr(id, '#') ||
	     strlen(s) != strlen(MQTT_TELEMETRY_PREFIX) + strlen(id)))
		abort();
	free(s);
	return 0;
}
