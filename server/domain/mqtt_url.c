/*
 * mqtt_url.c - the broker URL and telemetry topics (mqtt_url.h).
 */
#include "domain/mqtt_url.h"

#include "domain/device_id.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mqtt_url_parse(const char *s, struct mqtt_url *u)
{
	const char *h, *end, *colon;
	size_t hl;

	memset(u, 0, sizeof(*u));
	if (strncmp(s, "mqtt://", 7) == 0) {
		h = s + 7;
	} else if (strncmp(s, "mqtts://", 8) == 0) {
		h = s + 8;
		u->tls = true;
	} else {
		return -1;
	}
	u->port = u->tls ? 8883 : 1883;
	end = h + strcspn(h, "/");
	if (*end == '/' && end[1] != '\0')
		return -1; /* no path, query or anything past a slash */
	if (*h == '[') {
		const char *rb = memchr(h, ']', (size_t)(end - h));
		if (rb == NULL || rb == h + 1)
			return -1;
		hl = (size_t)(rb - h - 1);
		if (hl >= sizeof(u->host) || strspn(h + 1, "0123456789abcdefABCDEF:.") < hl)
			return -1;
		memcpy(u->host, h + 1, hl);
		colon = rb + 1 < end ? rb + 1 : NULL;
		if (colon && *colon != ':')
			return -1;
	} else {
		colon = memchr(h, ':', (size_t)(end - h));
		hl = (size_t)((colon ? colon : end) - h);
		if (hl == 0 || hl >= sizeof(u->host))
			return -1;
		memcpy(u->host, h, hl);
		if (strspn(u->host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") !=
		    hl)
			return -1;
	}
	if (colon) {
		long p = 0;
		const char *d = colon + 1;
		if (d == end || end - d > 5)
			return -1;
		for (; d < end; d++) {
			if (*d < '0' || *d > '9')
				return -1;
			p = p * 10 + (*d - '0');
		}
		if (p < 1 || p > 65535)
			return -1;
		u->port = (int)p;
	}
	return 0;
}

bool mqtt_topic_device(const char *topic, char *out, size_t len)
{
	size_t pl = strlen(MQTT_TELEMETRY_PREFIX), n;

	if (strncmp(topic, MQTT_TELEMETRY_PREFIX, pl) != 0)
		return false;
	topic += pl;
	n = strlen(topic);
	if (n == 0 || n >= len || memchr(topic, '/', n) || !device_id_valid(topic, n))
		return false;
	memcpy(out, topic, n + 1);
	return true;
}
