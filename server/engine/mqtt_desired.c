/*
 * mqtt_desired.c - desired state out (docs/mqtt.md): whenever a device's
 * answer to GET /v1/agent/desired changes, the replica that evaluates
 * rollouts (engine_leading()) publishes it, retained with QoS 1, on
 * ramp/desired/<device-id>; a device deleted gets its retained message
 * cleared (an empty retained payload).
 *
 * How a change is noticed: every answer is its class's text (the snapshot's
 * classes), so the thread keeps, per device, the hash of the class text it
 * last published. When the snapshot's generation moves it walks the fleet
 * (snapshot_each_answer(): one read lock, no allocation for an unchanged
 * device) and queues the devices whose hash moved, and those gone. The queue
 * is published at RAMP_MQTT_PUBLISH_RATE messages a second at most, so a
 * transition touching N devices is N messages spread over N / rate seconds
 * rather than one burst at the broker.
 */
#include "engine/engine.h"
#include "engine/mqtt_int.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/strmap.h"
#include "snapshot/snapshot.h"

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCAN_GAP_S 0.02 /* at most one walk of the fleet per 20 ms */

struct pub {
	uint64_t hash;	/* of the class text last queued */
	uint32_t epoch; /* the walk that last saw the device */
	bool queued, gone;
	char id[];
};

static struct {
	struct strmap *devs; /* id -> struct pub */
	struct pub **q;	     /* due, in order */
	size_t qhead, qlen, qcap;
	uint64_t seen_gen;
	bool scanned, leading;
	double last_scan, tokens, last_refill;
	uint32_t epoch;
	struct app *app;
	atomic_ulong published, cleared, failed, scans;
	_Atomic double last_publish_wall; /* unix s of the last publish */
} ds;

static int queue_push(struct pub *p)
{
	if (p->queued)
		return 0;
	if (ds.qhead > 0 && ds.qhead == ds.qlen)
		ds.qhead = ds.qlen = 0;
	if (ds.qlen == ds.qcap) {
		size_t cap = ds.qcap ? ds.qcap * 2 : 1024;
		struct pub **q;
		if (ds.qhead > 0) { /* slide down first */
			memmove(ds.q, ds.q + ds.qhead, (ds.qlen - ds.qhead) * sizeof(*ds.q));
			ds.qlen -= ds.qhead;
			ds.qhead = 0;
		}
		if (ds.qlen == ds.qcap) {
			if ((q = realloc(ds.q, cap * sizeof(*q))) == NULL)
				return RAMP_ENOMEM;
			ds.q = q;
			ds.qcap = cap;
		}
	}
	ds.q[ds.qlen++] = p;
	p->queued = true;
	return 0;
}

static void free_pub(void *ctx, const char *key, void *val)
{
	(void)ctx;
	(void)key;
	free(val);
}

/* Forget everything (leadership lost): a replica that leads again
 * publishes every answer once. */
static void forget_all(void)
{
	strmap_each(ds.devs, free_pub, NULL);
	strmap_free(ds.devs);
	ds.devs = strmap_new();
	ds.qhead = ds.qlen = 0;
	ds.scanned = false;
}

int mqtt_desired_init(struct app *app)
{
	ds.app = app;
	ds.devs = strmap_new();
	return ds.devs ? 0 : RAMP_ENOMEM;
}

void mqtt_desired_free(void)
{
	if (ds.devs)
		strmap_each(ds.devs, free_pub, NULL);
	strmap_free(ds.devs);
	ds.devs = NULL;
	free(ds.q);
	ds.q = NULL;
	ds.qhead = ds.qlen = ds.qcap = 0;
}

void mqtt_desired_connected(void)
{
}

void mqtt_desired_disconnected(void)
{
}

/* Under the snapshot's read lock: one device of the walk. */
static void scan_one(void *ctx, const char *id, uint64_t hash)
{
	struct pub *p = strmap_get(ds.devs, id);
	size_t n;

	(void)ctx;
	if (p == NULL) {
		n = strlen(id);
		if ((p = calloc(1, sizeof(*p) + n + 1)) == NULL)
			return; /* seen next walk */
		memcpy(p->id, id, n + 1);
		if (strmap_set(ds.devs, p->id, p) != 0) {
			free(p);
			return;
		}
		p->hash = hash ^ 1; /* differs: queued below */
	}
	p->epoch = ds.epoch;
	p->gone = false;
	if (p->hash != hash) {
		p->hash = hash;
		queue_push(p);
	}
}

static void find_gone(void *ctx, const char *key, void *val)
{
	struct pub *p = val;

	(void)ctx;
	(void)key;
	if (p->epoch != ds.epoch && !p->gone) {
		p->gone = true;
		queue_push(p);
	}
}

static void scan(struct snapshot *s, double now)
{
	ds.epoch++;
	snapshot_each_answer(s, scan_one, NULL);
	strmap_each(ds.devs, find_gone, NULL);
	ds.last_scan = now;
	ds.scanned = true;
	atomic_fetch_add(&ds.scans, 1);
}

/* One message: the answer with its ETag first, or an empty retained
 * payload for a device gone. False when libmosquitto refused it (then it
 * stays due). */
static bool publish_one(struct snapshot *s, struct pub *p)
{
	char topic[sizeof(MQTT_DESIRED_PREFIX) + 160], etag[24], *text = NULL, *msg = NULL;
	size_t len = 0, mlen = 0;
	int rc = RAMP_ENOTFOUND, mrc;
	mosquitto_property *props = NULL;

	snprintf(topic, sizeof(topic), MQTT_DESIRED_PREFIX "%s", p->id);
	if (!p->gone)
		rc = snapshot_desired(s, p->id, ds.app->cfg.poll_interval_s, &text, &len, etag);
	if (rc == RAMP_ENOMEM)
		return false;
	if (rc == 0) {
		/* {"etag":"\"...\"", then the answer's members */
		mlen = len + 40;
		if ((msg = malloc(mlen)) == NULL) {
			free(text);
			return false;
		}
		mlen = (size_t)snprintf(msg, mlen, "{\"etag\":\"\\\"%.*s\\\"\",%s",
					(int)strlen(etag) - 2, etag + 1, text + 1);
		free(text);
		if (mq.v5)
			mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, "etag",
							   etag);
	}
	mrc = mosquitto_publish_v5(mq.mosq, NULL, topic, (int)mlen, msg, 1, true, props);
	mosquitto_property_free_all(&props);
	free(msg);
	if (mrc != MOSQ_ERR_SUCCESS) {
		atomic_fetch_add(&ds.failed, 1);
		return false;
	}
	atomic_store(&ds.last_publish_wall, clock_wall_s());
	if (rc == 0) {
		atomic_fetch_add(&ds.published, 1);
	} else {
		atomic_fetch_add(&ds.cleared, 1);
		strmap_del(ds.devs, p->id);
		free(p);
	}
	return true;
}

void mqtt_desired_turn(double now)
{
	struct snapshot *s;
	double rate = ds.app->cfg.mqtt_publish_rate, burst = rate * 0.05 + 1;
	bool leading = engine_leading();

	if (leading != ds.leading) {
		log_info("msg=\"mqtt desired-state publisher\" leading=%d", leading);
		ds.leading = leading;
		forget_all();
	}
	if (!leading || (s = snapshot_acquire()) == NULL)
		return;
	if ((!ds.scanned || snapshot_generation(s) != ds.seen_gen) &&
	    now - ds.last_scan >= SCAN_GAP_S) {
		ds.seen_gen = snapshot_generation(s);
		scan(s, now);
	}
	ds.tokens += (now - ds.last_refill) * rate;
	ds.last_refill = now;
	if (ds.tokens > burst)
		ds.tokens = burst;
	while (ds.tokens >= 1 && ds.qhead < ds.qlen) {
		struct pub *p = ds.q[ds.qhead];
		p->queued = false;
		if (!publish_one(s, p)) {
			p->queued = true;
			break;
		}
		ds.qhead++;
		ds.tokens -= 1;
	}
	snapshot_release(s);
}

int mqtt_desired_wait_ms(void)
{
	if (ds.qhead < ds.qlen)
		return 1;
	return ds.leading ? 20 : 100;
}

char *mqtt_desired_metrics_text(struct arena *a)
{
	return arena_printf(
		a,
		"# HELP ramp_mqtt_desired_published_total Desired-state messages published (retained, QoS 1).\n"
		"# TYPE ramp_mqtt_desired_published_total counter\n"
		"ramp_mqtt_desired_published_total %lu\n"
		"# HELP ramp_mqtt_desired_cleared_total Retained desired state cleared for devices deleted.\n"
		"# TYPE ramp_mqtt_desired_cleared_total counter\n"
		"ramp_mqtt_desired_cleared_total %lu\n"
		"# HELP ramp_mqtt_desired_queued Desired-state messages due and not yet published.\n"
		"# TYPE ramp_mqtt_desired_queued gauge\n"
		"ramp_mqtt_desired_queued %zu\n"
		"# HELP ramp_mqtt_desired_publisher Whether this replica publishes desired state (it evaluates rollouts).\n"
		"# TYPE ramp_mqtt_desired_publisher gauge\n"
		"ramp_mqtt_desired_publisher %d\n"
		"# HELP ramp_mqtt_desired_last_publish_seconds When the last desired-state message was published (unix s).\n"
		"# TYPE ramp_mqtt_desired_last_publish_seconds gauge\n"
		"ramp_mqtt_desired_last_publish_seconds %.3f\n",
		atomic_load(&ds.published), atomic_load(&ds.cleared), ds.qlen - ds.qhead,
		ds.leading, atomic_load(&ds.last_publish_wall));
}
