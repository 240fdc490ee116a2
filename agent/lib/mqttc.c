/*
 * mqttc.c - ramp-agent's MQTT mode (mqtt-url, docs/mqtt.md): libmosquitto's
 * own thread keeps a connection to the broker, subscribes to
 * ramp/desired/<device-id> (QoS 1) and leaves each answer it is pushed in a
 * mailbox the loop takes (agent_mqtt_take): the loop then acts on it as on
 * a polled answer, so install and rollback are the same code. The reporter
 * publishes telemetry to ramp/telemetry/<device-id> (QoS 1) and counts it
 * delivered only on the broker's PUBACK; otherwise it goes to the spool as
 * an HTTP failure would. While connected the loop polls HTTP only every
 * mqtt-poll seconds (a slow fallback: a broken broker never strands a
 * device).
 */
#include "agent_int.h"

#include "common/log.h"
#include "domain/mqtt_url.h"

#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PUBACK_WAIT_S 10.0

struct agent_mqtt {
	struct agent *a;
	struct mosquitto *mosq;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int connected, started;
	int acked;	  /* the mid of the last PUBACK */
	char *pushed;	  /* the last answer pushed and not yet taken (malloc) */
	size_t pushed_len;
	char desired_topic[200], telemetry_topic[200];
};

static void on_connect(struct mosquitto *m, void *ud, int rc)
{
	struct agent_mqtt *q = ud;

	if (rc != 0) {
		log_warn("msg=\"mqtt broker refused the agent\" rc=%d reason=\"%s\"", rc,
			 mosquitto_connack_string(rc));
		return;
	}
	mosquitto_subscribe(m, NULL, q->desired_topic, 1);
	pthread_mutex_lock(&q->mu);
	q->connected = 1;
	pthread_mutex_unlock(&q->mu);
	log_info("msg=\"mqtt connected\" subscribed=%s", q->desired_topic);
}

static void on_disconnect(struct mosquitto *m, void *ud, int rc)
{
	struct agent_mqtt *q = ud;

	(void)m;
	pthread_mutex_lock(&q->mu);
	if (q->connected)
		log_warn("msg=\"mqtt connection lost\" rc=%d", rc);
	q->connected = 0;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	q->a->pushed = 1; /* wakes the loop: its next poll is due sooner now */
}

static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
	struct agent_mqtt *q = ud;
	char *copy;

	(void)m;
	if (msg->payloadlen <= 0 || strcmp(msg->topic, q->desired_topic) != 0)
		return; /* an empty retained message: this device was deleted */
	if ((copy = malloc((size_t)msg->payloadlen + 1)) == NULL)
		return;
	memcpy(copy, msg->payload, (size_t)msg->payloadlen);
	copy[msg->payloadlen] = '\0';
	pthread_mutex_lock(&q->mu);
	free(q->pushed);
	q->pushed = copy;
	q->pushed_len = (size_t)msg->payloadlen;
	pthread_mutex_unlock(&q->mu);
	q->a->pushed = 1; /* wakes the loop's nap */
}

static void on_publish(struct mosquitto *m, void *ud, int mid)
{
	struct agent_mqtt *q = ud;

	(void)m;
	pthread_mutex_lock(&q->mu);
	q->acked = mid;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

int agent_mqtt_start(struct agent *a)
{
	struct agent_mqtt *q;
	struct mqtt_url u;
	const struct conf *c = &a->conf;
	char id[200];
	int rc;

	if (!c->mqtt_url[0] || a->mqtt)
		return 0;
	if (mqtt_url_parse(c->mqtt_url, &u) != 0 || !a->device_id[0]) {
		log_error("msg=\"mqtt mode off\" reason=\"%s\"",
			  a->device_id[0] ? "mqtt-url is not mqtt(s)://host[:port]" : "no device id");
		return -1;
	}
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return -1;
	q->a = a;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	snprintf(q->desired_topic, sizeof(q->desired_topic), MQTT_DESIRED_PREFIX "%s", a->device_id);
	snprintf(q->telemetry_topic, sizeof(q->telemetry_topic), MQTT_TELEMETRY_PREFIX "%s",
		 a->device_id);
	snprintf(id, sizeof(id), "ramp-agent-%s", a->device_id);
	mosquitto_lib_init();
	if ((q->mosq = mosquitto_new(id, true, q)) == NULL)
		goto fail;
	mosquitto_connect_callback_set(q->mosq, on_connect);
	mosquitto_disconnect_callback_set(q->mosq, on_disconnect);
	mosquitto_message_callback_set(q->mosq, on_message);
	mosquitto_publish_callback_set(q->mosq, on_publish);
	mosquitto_reconnect_delay_set(q->mosq, 1, 60, true);
	if (c->mqtt_password[0] || c->mqtt_username[0])
		mosquitto_username_pw_set(q->mosq, c->mqtt_username[0] ? c->mqtt_username : a->device_id,
					  c->mqtt_password[0] ? c->mqtt_password : NULL);
	if (u.tls && mosquitto_tls_set(q->mosq, c->tls_ca[0] ? c->tls_ca : NULL,
				       c->tls_ca[0] ? NULL : "/etc/ssl/certs",
				       c->tls_cert[0] ? c->tls_cert : NULL,
				       c->tls_key[0] ? c->tls_key : NULL, NULL) != MOSQ_ERR_SUCCESS)
		goto fail;
	/* a broker down now is not fatal: the loop thread keeps trying */
	rc = mosquitto_connect_async(q->mosq, u.host, u.port, 30);
	if (rc != MOSQ_ERR_SUCCESS)
		log_warn("msg=\"mqtt broker not reached yet\" error=\"%s\"", mosquitto_strerror(rc));
	if (mosquitto_loop_start(q->mosq) != MOSQ_ERR_SUCCESS)
		goto fail;
	q->started = 1;
	pthread_mutex_lock(&a->mqtt_mu);
	a->mqtt = q;
	pthread_mutex_unlock(&a->mqtt_mu);
	log_info("msg=\"mqtt mode\" broker=%s:%d topic=%s", u.host, u.port, q->telemetry_topic);
	return 0;
fail:
	log_error("msg=\"mqtt mode off: the client could not be set up\"");
	if (q->mosq)
		mosquitto_destroy(q->mosq);
	free(q);
	return -1;
}

void agent_mqtt_stop(struct agent *a)
{
	struct agent_mqtt *q;

	/* the reporter publishes under mqtt_mu: none is under way past this */
	pthread_mutex_lock(&a->mqtt_mu);
	q = a->mqtt;
	a->mqtt = NULL;
	pthread_mutex_unlock(&a->mqtt_mu);
	if (q == NULL)
		return;
	mosquitto_disconnect(q->mosq);
	mosquitto_loop_stop(q->mosq, true);
	mosquitto_destroy(q->mosq);
	free(q->pushed);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	free(q);
}

bool agent_mqtt_conf_changed(const struct conf *old, const struct conf *now)
{
	return strcmp(old->mqtt_url, now->mqtt_url) != 0 ||
	       strcmp(old->mqtt_username, now->mqtt_username) != 0 ||
	       strcmp(old->mqtt_password, now->mqtt_password) != 0 ||
	       (now->mqtt_url[0] && (strcmp(old->tls_ca, now->tls_ca) != 0 ||
				     strcmp(old->tls_cert, now->tls_cert) != 0 ||
				     strcmp(old->tls_key, now->tls_key) != 0));
}

bool agent_mqtt_up(struct agent *a)
{
	struct agent_mqtt *q = a->mqtt;
	int up;

	if (q == NULL)
		return false;
	pthread_mutex_lock(&q->mu);
	up = q->connected;
	pthread_mutex_unlock(&q->mu);
	return up;
}

char *agent_mqtt_take(struct agent *a, size_t *len)
{
	struct agent_mqtt *q = a->mqtt;
	char *t;

	if (q == NULL)
		return NULL;
	pthread_mutex_lock(&q->mu);
	t = q->pushed;
	*len = q->pushed_len;
	q->pushed = NULL;
	pthread_mutex_unlock(&q->mu);
	return t;
}

static int publish_locked(struct agent *a, const json_t *reports)
{
	struct agent_mqtt *q = a->mqtt;
	json_t *body;
	char *text;
	int mid = 0, rc, done = 0;
	struct timespec until;

	if (!agent_mqtt_up(a))
		return 0;
	body = json_pack("{s:O}", "reports", (json_t *)reports);
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (text == NULL)
		return 0;
	rc = mosquitto_publish(q->mosq, &mid, q->telemetry_topic, (int)strlen(text), text, 1, false);
	free(text);
	if (rc != MOSQ_ERR_SUCCESS)
		return 0;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)PUBACK_WAIT_S;
	pthread_mutex_lock(&q->mu);
	while (!(done = q->acked == mid) && q->connected &&
	       pthread_cond_timedwait(&q->cv, &q->mu, &until) == 0)
		;
	done = q->acked == mid;
	pthread_mutex_unlock(&q->mu);
	return done;
}

/* The reporter's thread: a->mqtt stays while it publishes (a SIGHUP's
 * reconnect waits for this message's PUBACK, PUBACK_WAIT_S at most). */
int agent_mqtt_publish(struct agent *a, const json_t *reports)
{
	int done;

	pthread_mutex_lock(&a->mqtt_mu);
	done = publish_locked(a, reports);
	pthread_mutex_unlock(&a->mqtt_mu);
	return done;
}
