/*
 * fuzz_url.c - libFuzzer target for webhook URL parsing: any accepted URL
 * has a non-empty lower-case host without '@', a port in 1..65535, and no
 * byte a receiver or a log could misread.
 */
#include "domain/url.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ramp_err err;
	struct url u;
	char *s = malloc(size + 1);

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (url_parse(s, &u, &err) == 0) {
		if (u.host[0] == '\0' || strchr(u.host, '@') || u.port < 1 || u.port > 65535)
			abort();
		for (const char *p = s; *p; p++)
			if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
				abort();
		for (const char *p = u.host; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				abort();
		(void)url_host_private(&u);
	}
	free(s);
	return 0;
}
