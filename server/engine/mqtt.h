/*
 * mqtt.h - rampd as an MQTT client (docs/mqtt.md): one thread of its own
 * that keeps a connection to the broker of RAMP_MQTT_URL (MQTT 5, else
 * 3.1.1; reconnects with backoff), takes telemetry from the shared
 * subscription $share/rampd/ramp/telemetry/+ and acknowledges a message only
 * once its reports are committed.
 *
 * libmosquitto 2.0 queues a QoS 1 message's PUBACK before it calls
 * on_message (lib/handle_publish.c). The thread therefore runs the loop
 * itself (mosquitto_loop_read / _write / _misc, threaded mode so a queued
 * packet is never written from inside the read): every message read in one
 * pass is handed to the ingest writer, and the queued PUBACKs are written
 * only after all of them are committed. A message that cannot be committed
 * drops the connection before anything more is written, so the broker
 * redelivers it; its idempotency key stops a redelivery of a committed one
 * from being stored twice.
 *
 * Without RAMP_MQTT_URL nothing starts.
 */
#ifndef RAMP_MQTT_H
#define RAMP_MQTT_H

#include "app.h"
#include "common/arena.h"

#include <stdbool.h>
#include <stddef.h>

/* What became of one telemetry message. */
enum mqtt_verdict {
	MQTT_STORED,	 /* committed (maybe some reports rejected): acknowledge */
	MQTT_DUPLICATE,	 /* its key was committed before: acknowledge */
	MQTT_INVALID,	 /* malformed, oversized, no report accepted: drop, acknowledge */
	MQTT_UNKNOWN,	 /* no such device: drop, acknowledge */
	MQTT_RETRY,	 /* not committed (queue full, database down): never acknowledge */
};

/* One message in flight, owned by the MQTT thread. */
struct mqtt_msg {
	char key[65]; /* hex SHA-256 of topic and payload: the idempotency key */
	/* the handler's: released by the MQTT thread once done */
	void *owner;
	void (*release)(void *owner);
	/* the thread's */
	char topic[160];
	int verdict;
	char why[160];
	struct mqtt_msg *next;
};

/* Takes one telemetry message of device_id (the topic's last level,
 * checked): calls mqtt_msg_done() exactly once, now or from the ingest
 * writer once committed. Set by main.c (the api layer's
 * api_telemetry_mqtt). */
typedef void (*mqtt_telemetry_fn)(struct app *app, const char *device_id, const char *body,
				  size_t len, struct mqtt_msg *m);

/* The verdict on m; any thread, once per message. why: a short reason for
 * the log (NULL for none). */
void mqtt_msg_done(struct mqtt_msg *m, enum mqtt_verdict v, const char *why);

/* Starts the thread when RAMP_MQTT_URL is set (0 otherwise too); the
 * broker need not be up. RAMP_E* when the settings are unusable. */
int mqtt_start(struct app *app, mqtt_telemetry_fn telemetry);
/* Disconnects and joins; safe when never started. Call before ingest_stop(). */
void mqtt_stop(void);

/* For /readyz: true without RAMP_MQTT_URL or when connected. */
bool mqtt_ready(const char **state);
/* For /readyz: "5" or "3.1.1" while connected, NULL otherwise. */
const char *mqtt_protocol(void);
/* The MQTT figures in Prometheus text (empty without RAMP_MQTT_URL), in a;
 * NULL when out of memory. */
char *mqtt_metrics_text(struct arena *a);

#endif
