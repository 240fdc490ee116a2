/*
 * mqtt_int.h - what mqtt.c (connection, telemetry in) and mqtt_desired.c
 * (desired state out) share; both run on the MQTT thread only, except the
 * fields under mu.
 */
#ifndef RAMP_MQTT_INT_H
#define RAMP_MQTT_INT_H

#include "domain/mqtt_url.h"
#include "engine/mqtt.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

struct mosquitto;

struct mqtt_state {
	struct app *app;
	mqtt_telemetry_fn telemetry;
	struct mqtt_url url;
	char client_id[160], user[256], pass_word[256];
	struct mosquitto *mosq;
	pthread_t thread;
	bool started, lost, retry_now, abort_pass, connack_seen, fell_back_on_close;
	int closed_v5; /* MQTT 5 CONNECTs in a row closed before any CONNACK */
	atomic_bool v5; /* read by /metrics and /readyz */
	atomic_bool stopping;
	atomic_int state; /* ST_* of mqtt.c */
	double backoff, next_try, connect_started;
	/* under mu: the messages of the read pass and how many await a verdict */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int pending;
	struct mqtt_msg *pass;
};
extern struct mqtt_state mq;

/* mqtt_desired.c */
int mqtt_desired_init(struct app *app);
void mqtt_desired_free(void);
void mqtt_desired_connected(void);
void mqtt_desired_disconnected(void);
/* Connected: notices changed answers, publishes what is due (paced). */
void mqtt_desired_turn(double now);
/* How long the thread may wait on the socket: short while messages are due. */
int mqtt_desired_wait_ms(void);
char *mqtt_desired_metrics_text(struct arena *a);

#endif
