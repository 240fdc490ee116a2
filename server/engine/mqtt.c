/*
 * mqtt.c - the MQTT client thread (mqtt.h, docs/mqtt.md): connection,
 * reconnects, telemetry in with the acknowledgement held until the commit,
 * figures.
 */
#include "engine/mqtt.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "domain/mqtt_url.h"
#include "engine/mqtt_int.h"
#include "store/store.h"

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BACKOFF_MIN_S 0.5
#define BACKOFF_MAX_S 30.0
#define CONNECT_TIMEOUT_S 10.0
#define KEEPALIVE_S 30
#define RECEIVE_MAX 1000
#define PASS_MAX 2000 /* packets read before the pass is settled */
#define TELEMETRY_SUB "$share/rampd/" MQTT_TELEMETRY_PREFIX "+"

enum { ST_OFF, ST_DOWN, ST_CONNECTING, ST_UP };
static const char *const state_names[] = {"off", "disconnected", "connecting", "connected"};
static const char *const verdict_names[] = {"stored", "duplicate", "invalid", "unknown_device",
					    "retry"};
#define NVERDICTS (sizeof(verdict_names) / sizeof(verdict_names[0]))

struct mqtt_state mq = {.mu = PTHREAD_MUTEX_INITIALIZER};

static struct {
	atomic_ulong connects, connect_failures, disconnects, verdicts[NVERDICTS], bad_topic;
	atomic_ulong aborted_passes, prune_passes;
} fig;

void mqtt_msg_done(struct mqtt_msg *m, enum mqtt_verdict v, const char *why)
{
	pthread_mutex_lock(&mq.mu);
	m->verdict = (int)v;
	snprintf(m->why, sizeof(m->why), "%s", why ? why : "");
	mq.pending--;
	pthread_cond_broadcast(&mq.cv);
	pthread_mutex_unlock(&mq.mu);
}

/* hex SHA-256 of topic, a NUL and the payload */
static void message_key(const char *topic, const void *payload, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	memset(md, 0, sizeof(md));
	if (c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1) {
		EVP_DigestUpdate(c, topic, strlen(topic) + 1);
		if (len)
			EVP_DigestUpdate(c, payload, len);
		EVP_DigestFinal_ex(c, md, &mdlen);
	}
	EVP_MD_CTX_free(c);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void on_message(struct mosquitto *mosq, void *ud, const struct mosquitto_message *msg,
		       const mosquitto_property *props)
{
	char id[160];
	struct mqtt_msg *m;

	(void)mosq;
	(void)ud;
	(void)props;
	if (!mqtt_topic_device(msg->topic, id, sizeof(id))) {
		atomic_fetch_add(&fig.bad_topic, 1);
		log_warn("msg=\"mqtt message on a topic that names no device, dropped\" topic=\"%.120s\"",
			 msg->topic);
		return;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		mq.abort_pass = true; /* not taken: it must come again */
		return;
	}
	snprintf(m->topic, sizeof(m->topic), "%s", msg->topic);
	message_key(msg->topic, msg->payload, (size_t)msg->payloadlen, m->key);
	pthread_mutex_lock(&mq.mu);
	mq.pending++;
	m->next = mq.pass;
	mq.pass = m;
	pthread_mutex_unlock(&mq.mu);
	mq.telemetry(mq.app, id, msg->payload, (size_t)msg->payloadlen, m);
}

/* After a read pass: waits until every message it took has its verdict,
 * logs and counts them, frees them. False when one must come again (not
 * committed): the caller then drops the connection before the PUBACKs
 * libmosquitto queued for the pass are written. */
static bool settle_pass(void)
{
	struct mqtt_msg *m, *next;
	bool ok = !mq.abort_pass;

	pthread_mutex_lock(&mq.mu);
	while (mq.pending > 0)
		pthread_cond_wait(&mq.cv, &mq.mu);
	m = mq.pass;
	mq.pass = NULL;
	pthread_mutex_unlock(&mq.mu);
	for (; m; m = next) {
		next = m->next;
		atomic_fetch_add(&fig.verdicts[m->verdict], 1);
		if (m->verdict == MQTT_RETRY) {
			ok = false;
			log_warn("msg=\"mqtt telemetry not committed; the broker will deliver it again\""
				 " topic=\"%s\" error=\"%s\"", m->topic, m->why);
		} else if (m->verdict == MQTT_INVALID || m->verdict == MQTT_UNKNOWN) {
			log_warn("msg=\"mqtt telemetry dropped\" topic=\"%s\" reason=%s detail=\"%s\"",
				 m->topic, verdict_names[m->verdict], m->why);
		} else if (m->why[0]) {
			log_info("msg=\"mqtt telemetry partly rejected\" topic=\"%s\" detail=\"%s\"",
				 m->topic, m->why);
		}
		if (m->release)
			m->release(m->owner);
		free(m);
	}
	mq.abort_pass = false;
	if (!ok)
		atomic_fetch_add(&fig.aborted_passes, 1);
	return ok;
}

static void on_connect(struct mosquitto *mosq, void *ud, int rc, int flags,
		       const mosquitto_property *props)
{
	(void)ud;
	(void)props;
	mq.connack_seen = true;
	mq.closed_v5 = 0;
	if (rc == 0) {
		int sub;
		mq.fell_back_on_close = false; /* this protocol works here */
		sub = mosquitto_subscribe_v5(mosq, NULL, TELEMETRY_SUB, 1, 0, NULL);
		atomic_store(&mq.state, ST_UP);
		atomic_fetch_add(&fig.connects, 1);
		mq.backoff = BACKOFF_MIN_S;
		log_info("msg=\"mqtt connected\" broker=%s:%d protocol=%s session_present=%d"
			 " subscribe=%d", mq.url.host, mq.url.port, mq.v5 ? "5" : "3.1.1",
			 flags & 1, sub);
		mqtt_desired_connected();
		return;
	}
	if (mq.v5 && (rc == MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION || rc == 1)) {
		log_warn("msg=\"mqtt broker refused MQTT 5, falling back to 3.1.1\" rc=%d", rc);
		atomic_store(&mq.v5, false);
		mq.fell_back_on_close = false;
		mq.retry_now = true;
	} else {
		log_warn("msg=\"mqtt connection refused\" rc=%d reason=\"%s\"", rc,
			 mosquitto_reason_string(rc));
	}
	mq.lost = true;
}

static void on_disconnect(struct mosquitto *mosq, void *ud, int rc, const mosquitto_property *p)
{
	(void)mosq;
	(void)ud;
	(void)p;
	if (atomic_load(&mq.state) == ST_UP)
		log_warn("msg=\"mqtt connection lost\" rc=%d", rc);
	mq.lost = true;
}

static int read_password_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[600], *colon;

	if (f == NULL) {
		log_error("msg=\"cannot read RAMP_MQTT_PASSWORD_FILE\" path=\"%s\"", path);
		return RAMP_EINVAL;
	}
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	if ((colon = strchr(line, ':')) == NULL || colon == line) {
		log_error("msg=\"RAMP_MQTT_PASSWORD_FILE must hold username:password\" path=\"%s\"",
			  path);
		return RAMP_EINVAL;
	}
	*colon = '\0';
	if (strlen(line) >= sizeof(mq.user) || strlen(colon + 1) >= sizeof(mq.pass_word)) {
		log_error("msg=\"RAMP_MQTT_PASSWORD_FILE: username or password too long\" path=\"%s\"",
			  path);
		return RAMP_EINVAL;
	}
	memcpy(mq.user, line, strlen(line) + 1);
	memcpy(mq.pass_word, colon + 1, strlen(colon + 1) + 1);
	return 0;
}

static int try_connect(void)
{
	mosquitto_property *props = NULL;
	int rc;

	mosquitto_int_option(mq.mosq, MOSQ_OPT_PROTOCOL_VERSION,
			     mq.v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
	if (mq.v5) {
		/* the session (subscription, unacknowledged messages) outlives us */
		mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL,
					     (uint32_t)mq.app->cfg.mqtt_session_expiry_s);
		mosquitto_property_add_int16(&props, MQTT_PROP_RECEIVE_MAXIMUM, RECEIVE_MAX);
	}
	mq.connack_seen = false;
	rc = mosquitto_connect_bind_v5(mq.mosq, mq.url.host, mq.url.port, KEEPALIVE_S, NULL, props);
	mosquitto_property_free_all(&props);
	return rc;
}

/* The connection is gone (or must go): retry after the backoff. */
static void went_down(double now)
{
	int was = atomic_exchange(&mq.state, ST_DOWN);

	if (was == ST_UP)
		atomic_fetch_add(&fig.disconnects, 1);
	mqtt_desired_disconnected();
	mq.next_try = now + (mq.retry_now ? 0 : mq.backoff);
	if (!mq.retry_now)
		mq.backoff = mq.backoff * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : mq.backoff * 2;
	mq.retry_now = false;
	mq.lost = false;
}

/* The broker closed the connection after CONNECT without a CONNACK. Some
 * brokers that only know 3.1.1 (or 3.1) do that to an MQTT 5 CONNECT instead
 * of answering "unacceptable protocol version": after two in a row, 3.1.1
 * is tried at once. If 3.1.1 is then closed the same way, the broker was
 * only unwell: back to MQTT 5 for the next attempt. */
#define CLOSED_V5_MAX 2
static void closed_before_connack(void)
{
	if (atomic_load(&mq.v5) && ++mq.closed_v5 >= CLOSED_V5_MAX) {
		log_warn("msg=\"mqtt broker closed MQTT 5 CONNECTs without an answer, falling back to"
			 " 3.1.1\" attempts=%d", mq.closed_v5);
		atomic_store(&mq.v5, false);
		mq.fell_back_on_close = true;
		mq.closed_v5 = 0;
		mq.retry_now = true;
	} else if (!atomic_load(&mq.v5) && mq.fell_back_on_close) {
		atomic_store(&mq.v5, true);
		mq.fell_back_on_close = false;
	}
}

static void prune_keys(void)
{
	const struct config *c = &mq.app->cfg;
	long long deleted = 0, keep = c->mqtt_key_keep_s ? (long long)c->mqtt_key_keep_s
							 : (long long)c->mqtt_session_expiry_s + 3600;
	int rc = store_mqtt_prune_keys(mq.app->db, keep, &deleted);

	if (rc)
		log_warn("msg=\"mqtt key pruning failed\" error=\"%s\"", ramp_strerror(rc));
	else if (deleted)
		log_info("msg=\"mqtt keys pruned\" deleted=%lld kept_s=%lld", deleted, keep);
	if (rc == 0)
		atomic_fetch_add(&fig.prune_passes, 1);
}

/* One turn while connected (or connecting): wait for the socket up to
 * wait_ms, read a pass, settle it, write, keepalive. */
static void turn(double now, int wait_ms)
{
	int fd = mosquitto_socket(mq.mosq), rc = MOSQ_ERR_SUCCESS;
	struct pollfd p = {.fd = fd, .events = POLLIN};

	if (fd < 0) {
		went_down(now);
		return;
	}
	if (mosquitto_want_write(mq.mosq))
		p.events |= POLLOUT;
	if (poll(&p, 1, wait_ms) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR))) {
		/* loop_read takes one packet when nothing is queued: read on while
		 * the socket holds more, so one pass (one commit) carries many */
		struct pollfd more = {.fd = fd, .events = POLLIN};
		int n = 0;
		do {
			rc = mosquitto_loop_read(mq.mosq, 1);
		} while (rc == MOSQ_ERR_SUCCESS && ++n < PASS_MAX && poll(&more, 1, 0) > 0 &&
			 (more.revents & POLLIN));
		if (!settle_pass()) {
			/* nothing more is written: the PUBACKs queued in this pass
			 * (and before, in libmosquitto) are dropped with the socket */
			shutdown(fd, SHUT_RDWR);
			mq.lost = true;
		}
	}
	if (!mq.lost && rc == MOSQ_ERR_SUCCESS) {
		mqtt_desired_turn(now);
		if (mosquitto_want_write(mq.mosq))
			rc = mosquitto_loop_write(mq.mosq, 1);
	}
	if (!mq.lost && rc == MOSQ_ERR_SUCCESS)
		rc = mosquitto_loop_misc(mq.mosq);
	if (rc != MOSQ_ERR_SUCCESS)
		mq.lost = true;
	if (!mq.lost && atomic_load(&mq.state) == ST_CONNECTING &&
	    now - mq.connect_started > CONNECT_TIMEOUT_S) {
		log_warn("msg=\"mqtt broker did not answer CONNECT\" seconds=%.0f", CONNECT_TIMEOUT_S);
		mq.lost = true;
	} else if (mq.lost && atomic_load(&mq.state) == ST_CONNECTING && !mq.connack_seen) {
		closed_before_connack();
	}
	if (mq.lost) {
		mosquitto_disconnect(mq.mosq);
		went_down(now);
	}
}

static void *mqtt_main(void *arg)
{
	double last_prune = 0;

	(void)arg;
	mq.backoff = BACKOFF_MIN_S;
	while (!atomic_load(&mq.stopping)) {
		double now = clock_mono_s();
		if (now - last_prune > (double)mq.app->cfg.mqtt_prune_interval_s) {
			prune_keys();
			last_prune = now;
		}
		if (atomic_load(&mq.state) == ST_DOWN) {
			int rc;
			if (now < mq.next_try) {
				double w = mq.next_try - now;
				usleep((useconds_t)((w > 0.1 ? 0.1 : w) * 1e6));
				continue;
			}
			rc = try_connect();
			if (rc != MOSQ_ERR_SUCCESS) {
				atomic_fetch_add(&fig.connect_failures, 1);
				log_warn("msg=\"mqtt cannot reach the broker\" broker=%s:%d error=\"%s\""
					 " retry_in=%.1f", mq.url.host, mq.url.port,
					 mosquitto_strerror(rc), mq.backoff);
				mq.lost = false;
				went_down(now);
				continue;
			}
			atomic_store(&mq.state, ST_CONNECTING);
			mq.connect_started = now;
		}
		turn(now, mqtt_desired_wait_ms());
	}
	if (atomic_load(&mq.state) == ST_UP) {
		mosquitto_disconnect(mq.mosq);
		mosquitto_loop_write(mq.mosq, 1);
	}
	return NULL;
}

int mqtt_start(struct app *app, mqtt_telemetry_fn telemetry)
{
	const struct config *c = &app->cfg;
	char id[160];
	int rc;

	if (c->mqtt_url[0] == '\0')
		return 0;
	if (mqtt_url_parse(c->mqtt_url, &mq.url) != 0)
		return RAMP_EINVAL;
	mq.app = app;
	mq.telemetry = telemetry;
	mq.v5 = true;
	clock_cond_init(&mq.cv);
	if (c->mqtt_client_id[0]) {
		snprintf(id, sizeof(id), "%s", c->mqtt_client_id);
	} else {
		char host[64] = "rampd";
		gethostname(host, sizeof(host) - 1);
		host[sizeof(host) - 1] = '\0';
		snprintf(id, sizeof(id), "rampd-%s-%d", host, c->listen_port);
	}
	snprintf(mq.client_id, sizeof(mq.client_id), "%s", id);
	if (c->mqtt_password_file[0] && (rc = read_password_file(c->mqtt_password_file)) != 0)
		return rc;
	mosquitto_lib_init();
	/* clean start false: a fixed id per replica, so the broker keeps
	 * what arrives while it is away */
	if ((mq.mosq = mosquitto_new(mq.client_id, false, NULL)) == NULL)
		return RAMP_ENOMEM;
	mosquitto_threaded_set(mq.mosq, true); /* nothing written inside a read pass */
	mosquitto_int_option(mq.mosq, MOSQ_OPT_RECEIVE_MAXIMUM, RECEIVE_MAX);
	mosquitto_connect_v5_callback_set(mq.mosq, on_connect);
	mosquitto_disconnect_v5_callback_set(mq.mosq, on_disconnect);
	mosquitto_message_v5_callback_set(mq.mosq, on_message);
	if (mq.user[0] && mosquitto_username_pw_set(mq.mosq, mq.user, mq.pass_word) != 0)
		return RAMP_EINVAL;
	if (mq.url.tls) {
		rc = mosquitto_tls_set(mq.mosq, c->mqtt_ca[0] ? c->mqtt_ca : NULL,
				       c->mqtt_ca[0] ? NULL : "/etc/ssl/certs",
				       c->mqtt_cert[0] ? c->mqtt_cert : NULL,
				       c->mqtt_key[0] ? c->mqtt_key : NULL, NULL);
		if (rc != MOSQ_ERR_SUCCESS) {
			log_error("msg=\"mqtt TLS settings refused\" error=\"%s\"", mosquitto_strerror(rc));
			return RAMP_EINVAL;
		}
	}
	if ((rc = mqtt_desired_init(app)) != 0)
		return rc;
	atomic_store(&mq.state, ST_DOWN);
	if (pthread_create(&mq.thread, NULL, mqtt_main, NULL) != 0)
		return RAMP_EINTERNAL;
	mq.started = true;
	log_info("msg=\"mqtt client started\" broker=%s:%d tls=%d client_id=%s", mq.url.host,
		 mq.url.port, mq.url.tls, mq.client_id);
	return 0;
}

void mqtt_stop(void)
{
	if (!mq.started)
		return;
	atomic_store(&mq.stopping, true);
	pthread_join(mq.thread, NULL);
	mq.started = false;
	mqtt_desired_free();
	mosquitto_destroy(mq.mosq);
	mq.mosq = NULL;
	mosquitto_lib_cleanup();
	atomic_store(&mq.state, ST_OFF);
}

bool mqtt_ready(const char **state)
{
	int s = atomic_load(&mq.state);

	*state = state_names[s];
	return s == ST_OFF || s == ST_UP;
}

const char *mqtt_protocol(void)
{
	if (atomic_load(&mq.state) != ST_UP)
		return NULL;
	return atomic_load(&mq.v5) ? "5" : "3.1.1";
}

char *mqtt_metrics_text(struct arena *a)
{
	char *v;
	int s = atomic_load(&mq.state);

	if (s == ST_OFF)
		return arena_strdup(a, "");
	v = arena_printf(a, "ramp_mqtt_telemetry_messages_total{result=\"bad_topic\"} %lu\n",
			 atomic_load(&fig.bad_topic));
	for (size_t i = 0; v && i < NVERDICTS; i++)
		v = arena_printf(a, "%sramp_mqtt_telemetry_messages_total{result=\"%s\"} %lu\n", v,
				 verdict_names[i], atomic_load(&fig.verdicts[i]));
	if (v == NULL)
		return NULL;
	return arena_printf(
		a,
		"# HELP ramp_mqtt_connected Whether rampd is connected to the MQTT broker (RAMP_MQTT_URL).\n"
		"# TYPE ramp_mqtt_connected gauge\n"
		"ramp_mqtt_connected %d\n"
		"# HELP ramp_mqtt_protocol_version The MQTT protocol version in use (5, or 4 for 3.1.1).\n"
		"# TYPE ramp_mqtt_protocol_version gauge\n"
		"ramp_mqtt_protocol_version %d\n"
		"# HELP ramp_mqtt_connects_total Connections the broker accepted.\n"
		"# TYPE ramp_mqtt_connects_total counter\n"
		"ramp_mqtt_connects_total %lu\n"
		"# HELP ramp_mqtt_connect_failures_total Attempts that could not reach the broker.\n"
		"# TYPE ramp_mqtt_connect_failures_total counter\n"
		"ramp_mqtt_connect_failures_total %lu\n"
		"# HELP ramp_mqtt_disconnects_total Connections lost after they were up.\n"
		"# TYPE ramp_mqtt_disconnects_total counter\n"
		"ramp_mqtt_disconnects_total %lu\n"
		"# HELP ramp_mqtt_unacknowledged_passes_total Read passes whose messages were left"
		" for the broker to deliver again (not committed).\n"
		"# TYPE ramp_mqtt_unacknowledged_passes_total counter\n"
		"ramp_mqtt_unacknowledged_passes_total %lu\n"
		"# HELP ramp_mqtt_key_prune_passes_total Passes that pruned the idempotency keys"
		" older than RAMP_MQTT_KEY_KEEP.\n"
		"# TYPE ramp_mqtt_key_prune_passes_total counter\n"
		"ramp_mqtt_key_prune_passes_total %lu\n"
		"# HELP ramp_mqtt_telemetry_messages_total Telemetry messages by what became of them.\n"
		"# TYPE ramp_mqtt_telemetry_messages_total counter\n"
		"%s%s",
		s == ST_UP, atomic_load(&mq.v5) ? 5 : 4, atomic_load(&fig.connects),
		atomic_load(&fig.connect_failures), atomic_load(&fig.disconnects),
		atomic_load(&fig.aborted_passes), atomic_load(&fig.prune_passes), v, mqtt_desired_metrics_text(a));
}
