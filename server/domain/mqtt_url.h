/*
 * mqtt_url.h - pure parsing for the MQTT client (docs/mqtt.md): the broker
 * URL of RAMP_MQTT_URL and the device id in a telemetry topic.
 */
#ifndef RAMP_MQTT_URL_H
#define RAMP_MQTT_URL_H

#include <stdbool.h>
#include <stddef.h>

#define MQTT_TELEMETRY_PREFIX "ramp/telemetry/"
#define MQTT_DESIRED_PREFIX "ramp/desired/"

struct mqtt_url {
	bool tls;       /* mqtts:// */
	char host[256]; /* without an IPv6 literal's brackets */
	int port;       /* 1883 or 8883 when absent */
};

/* "mqtt://host[:port]" or "mqtts://host[:port]" (host a name, an IPv4
 * address or a bracketed IPv6 one; nothing after the port but an optional
 * "/"). 0, or -1 when s is none of these. */
int mqtt_url_parse(const char *s, struct mqtt_url *u);

/* The device id of a telemetry topic "ramp/telemetry/<device-id>" (a valid
 * device id, one level), copied into out; false otherwise. */
bool mqtt_topic_device(const char *topic, char *out, size_t len);

#endif
