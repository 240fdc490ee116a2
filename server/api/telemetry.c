/*
 * telemetry.c - POST /v1/telemetry: validate each report on its own
 * (domain/telemetry.h), keep device tokens to their own device and ingest
 * tokens to registered devices (the snapshot's word, the database's for a
 * device the snapshot does not know yet), add each report once accepted to
 * a batch for the group-commit writer (store/ingest.h), then park the
 * request; the writer hands over the answer, built here beforehand, once
 * the batch is committed.
 * Nothing accepted is a 400 (403 when every report named another device);
 * a full queue or a failed commit is a 503 that claims nothing.
 *
 * Two ways in: bodies of the common form whose reports are all accepted
 * are read straight from the text (telemetry_read_fast(), no jansson
 * tree); any other body, every invalid one included, is parsed by jansson
 * and judged report by report, which words the answers.
 */
#include "api/api.h"

#include "auth/auth.h"

#include "common/clock.h"
#include "domain/telemetry.h"
#include "engine/engine.h"
#include "engine/mqtt.h"
#include "snapshot/snapshot.h"
#include "store/ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TELEMETRY_BATCH_MAX 10000

enum shape { SHAPE_ONE, SHAPE_ARRAY, SHAPE_WRAPPED };
/* WHY_ASK: valid, but only the database knows its device (check_devices) */
enum why { WHY_OK, WHY_INVALID, WHY_WRONG_DEVICE, WHY_UNKNOWN_DEVICE, WHY_ASK };

/* The verdict on one report. */
struct verdict {
	enum why why;
	const char *field; /* inside the report, "" for the report itself */
	const char *msg;
	const char *device_id; /* accepted or asking: its device (arena) */
};

struct batch {
	struct req *r;
	struct ingest_batch ib; /* the accepted reports, as the writer sees them */
	enum shape shape;
	size_t n;
	double now; /* the clock every report of the request is judged by */
	struct verdict *v;
	size_t accepted, wrong_device, asking;
	char *ok_body; /* the 202's body, built before the commit (malloc) */
	size_t ok_len;
};

/* The list of reports in body (borrowed, or a new array for one report);
 * NULL after replying 400 when the body is none of the three forms. */
static json_t *reports_of(struct req *r, json_t *body, enum shape *shape)
{
	json_t *list;

	if (json_is_array(body)) {
		*shape = SHAPE_ARRAY;
		return json_incref(body);
	}
	if (!json_is_object(body)) {
		http_reply_problem(r, 400, NULL,
				   "body must be a report object, an array of reports, or"
				   " {\"reports\": [...]}");
		return NULL;
	}
	list = json_object_get(body, "reports");
	if (list == NULL) {
		*shape = SHAPE_ONE;
		list = json_array();
		json_array_append(list, body);
		return list;
	}
	if (!json_is_array(list)) {
		http_reply_problem(r, 400, "reports", "reports must be an array of report objects");
		return NULL;
	}
	*shape = SHAPE_WRAPPED;
	return json_incref(list);
}

/* "latency_ms", "[3].latency_ms" or "reports[3].latency_ms". */
static const char *field_path(struct req *r, const struct batch *b, size_t i, const char *f)
{
	const char *sep = *f ? "." : "";

	switch (b->shape) {
	case SHAPE_ONE:
		return f;
	case SHAPE_ARRAY:
		return arena_printf(r->arena, "[%zu]%s%s", i, sep, f);
	case SHAPE_WRAPPED:
		return arena_printf(r->arena, "reports[%zu]%s%s", i, sep, f);
	}
	return f;
}

static void reject(struct req *r, struct verdict *v, enum why why, const char *field,
		   const char *msg)
{
	v->why = why;
	v->field = arena_strdup(r->arena, field);
	v->msg = arena_strdup(r->arena, msg);
}

/* True when the snapshot vouches for device id: registered in it, and no
 * deletion on this replica overrules it. */
static bool snapshot_knows(struct snapshot *s, const char *id)
{
	uint64_t gen;

	return s && snapshot_has_device(s, id, &gen) && !auth_device_overruled(id, gen);
}

/* Report t (verdict v) is accepted: it joins the batch. */
static int accept_report(struct req *r, struct batch *b, struct verdict *v,
			 const struct telemetry_report *t)
{
	v->why = WHY_OK;
	if ((v->device_id = arena_strdup(r->arena, t->device_id)) == NULL ||
	    ingest_batch_add(&b->ib, t) != 0)
		return RAMP_ENOMEM;
	b->accepted++;
	return 0;
}

/* Validates every report and adds the accepted ones to the batch; a report
 * whose device the snapshot s does not vouch for waits as WHY_ASK. */
static int judge(struct req *r, json_t *list, struct batch *b, struct snapshot *s,
		 struct telemetry_report *t)
{
	struct ramp_err err;
	int rc;

	for (size_t i = 0; i < b->n; i++) {
		struct verdict *v = &b->v[i];
		if (telemetry_parse(json_array_get(list, i), b->now, t, &err) != 0) {
			reject(r, v, WHY_INVALID, err.field, err.msg);
		} else if (r->auth.role == ROLE_DEVICE &&
			   strcmp(t->device_id, r->auth.device_id ? r->auth.device_id : "") != 0) {
			reject(r, v, WHY_WRONG_DEVICE, "device_id", "not this device's id");
			b->wrong_device++;
		} else if (r->auth.role != ROLE_DEVICE && !snapshot_knows(s, t->device_id)) {
			v->why = WHY_ASK;
			if ((v->device_id = arena_strdup(r->arena, t->device_id)) == NULL)
				return RAMP_ENOMEM;
			b->asking++;
		} else if ((rc = accept_report(r, b, v, t)) != 0) {
			return rc;
		}
	}
	return 0;
}

/* The reports whose device the snapshot does not know (registered a moment
 * ago, maybe on another replica): one query for their distinct ids; those
 * the database knows are parsed again and accepted, the others rejected. */
static int check_devices(struct req *r, json_t *list, struct batch *b, struct telemetry_report *t)
{
	json_t *seen = json_object(), *missing = NULL, *set = json_object(), *id;
	size_t len = 0, k;
	char *ids = NULL;
	struct ramp_err err;
	int rc = RAMP_ENOMEM;

	if (seen == NULL || set == NULL)
		goto out;
	/* a deletion under way before the query may commit before its answer
	 * (the query then still sees the device): judged now, not after */
	for (size_t i = 0; i < b->n; i++)
		if (b->v[i].why == WHY_ASK && !json_object_get(seen, b->v[i].device_id)) {
			json_object_set_new(seen, b->v[i].device_id,
					    json_boolean(!auth_device_overruled(b->v[i].device_id, 0)));
			len += strlen(b->v[i].device_id) + 1;
		}
	if ((ids = arena_alloc(r->arena, len + 1)) == NULL)
		goto out;
	len = 0;
	for (void *it = json_object_iter(seen); it; it = json_object_iter_next(seen, it)) {
		const char *key = json_object_iter_key(it);
		size_t kl = strlen(key);
		if (len)
			ids[len++] = '\n';
		memcpy(ids + len, key, kl);
		len += kl;
	}
	ids[len] = '\0';
	if ((rc = store_devices_missing(r->app->db, ids, &missing)) != 0)
		goto out;
	json_array_foreach(missing, k, id) {
		json_object_set(set, json_string_value(id), json_true());
	}
	for (size_t i = 0; i < b->n && rc == 0; i++) {
		struct verdict *v = &b->v[i];
		if (v->why != WHY_ASK)
			continue;
		if (json_object_get(set, v->device_id) || json_is_false(json_object_get(seen, v->device_id)) ||
		    auth_device_overruled(v->device_id, 0))
			reject(r, v, WHY_UNKNOWN_DEVICE, "device_id", "unknown device");
		else if (telemetry_parse(json_array_get(list, i), b->now, t, &err) != 0)
			reject(r, v, WHY_INVALID, err.field, err.msg); /* cannot: judged the same */
		else
			rc = accept_report(r, b, v, t);
	}
out:
	json_decref(seen);
	json_decref(set);
	json_decref(missing);
	return rc;
}

static json_t *rejected_json(struct batch *b)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < b->n; i++) {
		const struct verdict *v = &b->v[i];
		char err[512];
		if (v->why == WHY_OK)
			continue;
		snprintf(err, sizeof(err), "%s%s%s", v->field, *v->field ? ": " : "", v->msg);
		json_array_append_new(arr, json_pack("{s:I, s:s, s:s}", "index", (json_int_t)i,
						     "field", v->field, "error", err));
	}
	return arr;
}

static void count_rejections(const struct batch *b)
{
	int n[WHY_ASK + 1] = {0};

	for (size_t i = 0; i < b->n; i++)
		n[b->v[i].why]++;
	if (n[WHY_INVALID])
		ingest_note_rejected("invalid", n[WHY_INVALID]);
	if (n[WHY_WRONG_DEVICE])
		ingest_note_rejected("wrong_device", n[WHY_WRONG_DEVICE]);
	if (n[WHY_UNKNOWN_DEVICE])
		ingest_note_rejected("unknown_device", n[WHY_UNKNOWN_DEVICE]);
}

/* 400 (403 when every report named another device) with every reason.
 * "field" goes in with the extra members, so an empty one is kept. */
static void reply_none(struct req *r, struct batch *b)
{
	int status = b->wrong_device == b->n ? 403 : 400;
	const struct verdict *first = &b->v[0];

	http_reply_problem_with(r, status, NULL,
				json_pack("{s:s, s:o}", "field", field_path(r, b, 0, first->field),
					  "rejected", rejected_json(b)),
				"no report accepted: %s%s%s%s", first->field,
				*first->field ? ": " : "", first->msg,
				b->n > 1 ? arena_printf(r->arena, " (and %zu more)", b->n - 1) : "");
}

static void reply_unavailable(struct req *r, int rc)
{
	if (rc == RAMP_EBUSY)
		http_reply_problem(r, 503, NULL,
				   "telemetry queue is full; nothing stored, retry later");
	else
		http_reply_problem(r, 503, NULL,
				   "telemetry could not be committed; nothing stored, retry later");
}

/* The writer's last look before the COPY: a token revoked, or a device
 * deleted, after this request was authenticated stores nothing (the delete
 * waits in ingest_barrier() for groups already taken). */
static int admit(struct ingest_batch *ib)
{
	struct batch *b = ib->ctx;
	const struct auth *a = &b->r->auth;

	if (auth_revoked_since(a, NULL))
		return RAMP_EAUTH;
	for (size_t i = 0; a->role != ROLE_DEVICE && i < b->n; i++)
		if (b->v[i].why == WHY_OK && auth_revoked_since(a, b->v[i].device_id))
			return RAMP_ECONFLICT;
	return 0;
}

/* The writer thread's answer once the rows are committed (or not). */
static void on_committed(struct ingest_batch *ib, int rc)
{
	struct batch *b = ib->ctx;
	struct req *r = b->r;

	if (rc == RAMP_EAUTH) {
		http_add_header(r, "WWW-Authenticate", "Bearer");
		http_reply_problem(r, 401, "Authorization", "unknown, expired or revoked token");
	} else if (rc == RAMP_ECONFLICT) {
		http_reply_problem(r, 503, "device_id",
				   "a device of this batch was deleted while it was being stored;"
				   " nothing stored, retry");
	} else if (rc == 0) {
		/* fresh numbers: let the engine judge them now, not at its next tick */
		engine_wake(r->app);
		http_reply_text(r, 202, "application/json", b->ok_body, b->ok_len);
		b->ok_body = NULL;
	} else {
		reply_unavailable(r, rc);
	}
	http_unpark(r);
}

static void free_rows(struct req *r)
{
	struct batch *b = r->stream;

	ingest_batch_free(&b->ib);
	free(b->ok_body);
	b->ok_body = NULL;
}

/* The 202's body, built here on the request's thread so that the writer
 * only hands it over: {"accepted": n, "rejected": [...]}. */
static int build_ok_body(struct batch *b)
{
	json_t *j;

	if (b->accepted == b->n) {
		char tmp[64];
		int n = snprintf(tmp, sizeof(tmp), "{\"accepted\":%zu,\"rejected\":[]}", b->n);
		b->ok_body = strdup(tmp);
		b->ok_len = (size_t)n;
	} else {
		j = json_pack("{s:I, s:o}", "accepted", (json_int_t)b->accepted, "rejected",
			      rejected_json(b));
		b->ok_body = j ? json_dumps(j, JSON_COMPACT) : NULL;
		b->ok_len = b->ok_body ? strlen(b->ok_body) : 0;
		json_decref(j);
	}
	return b->ok_body ? 0 : RAMP_ENOMEM;
}

/* A telemetry message from MQTT, as a request that no connection carries
 * (conn NULL): the same judging and the same group commit as a POST. */
struct mqtt_req {
	struct req r; /* first: the request is the message */
	struct mqtt_msg *m;
};

static struct mqtt_req *container_of_mqtt(struct req *r)
{
	return (struct mqtt_req *)r;
}

/* Parks the request and hands the accepted reports to the writer. */
static void commit_and_reply(struct req *r, struct batch *b)
{
	int rc;

	if (build_ok_body(b) != 0) {
		http_reply_err(r, RAMP_ENOMEM, NULL);
		return;
	}
	if (r->conn == NULL) /* MQTT: its message's idempotency key */
		b->ib.key = container_of_mqtt(r)->m->key;
	b->ib.done = on_committed;
	b->ib.admit = admit;
	b->ib.ctx = b;
	/* parked first: the writer may answer before ingest_enqueue returns */
	http_park(r);
	if ((rc = ingest_enqueue(&b->ib)) != 0) {
		reply_unavailable(r, rc);
		http_unpark(r);
	}
}

static void ingest_batch(struct req *r, json_t *list, struct batch *b)
{
	struct telemetry_report *t = arena_alloc(r->arena, sizeof(*t));
	struct snapshot *s = NULL;
	int rc;

	b->v = arena_calloc(r->arena, b->n, sizeof(*b->v));
	if (t == NULL || b->v == NULL) {
		http_reply_err(r, RAMP_ENOMEM, NULL);
		return;
	}
	b->now = clock_wall_s();
	if (r->auth.role != ROLE_DEVICE)
		s = http_snapshot(r); /* the request's own, taken when it was authorized */
	rc = judge(r, list, b, s, t);
	if (rc == 0 && b->asking)
		rc = check_devices(r, list, b, t);
	if (rc != 0) {
		http_reply_err(r, rc, NULL);
		return;
	}
	count_rejections(b);
	if (b->accepted == 0)
		reply_none(r, b);
	else
		commit_and_reply(r, b);
}

/* The fast path's state: verdicts grow as reports come. */
struct fast {
	struct req *r;
	struct batch *b;
	struct snapshot *s;
	size_t cap;
};

/* One report of the fast path: accepted at once, or the fast path gives
 * up (a device to ask about or another device's id: the general path
 * words those). */
static int fast_one(void *ctx, size_t i, const struct telemetry_report *t)
{
	struct fast *f = ctx;
	struct batch *b = f->b;

	if (i == f->cap) {
		struct verdict *v = arena_calloc(f->r->arena, f->cap * 2, sizeof(*v));
		if (v == NULL)
			return 1;
		memcpy(v, b->v, f->cap * sizeof(*v));
		b->v = v;
		f->cap *= 2;
	}
	if (f->r->auth.role == ROLE_DEVICE
		    ? strcmp(t->device_id, f->r->auth.device_id ? f->r->auth.device_id : "") != 0
		    : !snapshot_knows(f->s, t->device_id))
		return 1;
	return accept_report(f->r, b, &b->v[i], t) != 0;
}

/* Reads the body without jansson when it is of the common form and every
 * report in it is accepted (telemetry_read_fast()); true when the request
 * is then answered or parked. False, with the batch emptied again, when
 * the general path must judge it. */
static bool try_fast(struct req *r, struct batch *b)
{
	struct fast f = {.r = r, .b = b, .cap = 16};
	struct telemetry_report *t = arena_alloc(r->arena, sizeof(*t));

	b->v = arena_calloc(r->arena, f.cap, sizeof(*b->v));
	if (t == NULL || b->v == NULL)
		return false;
	b->now = clock_wall_s();
	if (r->auth.role != ROLE_DEVICE)
		f.s = http_snapshot(r);
	b->n = telemetry_read_fast(r->body, r->body_len, b->now, TELEMETRY_BATCH_MAX, t,
				   fast_one, &f);
	if (b->n == 0) {
		buf_reset(&b->ib.rows);
		b->ib.nrows = 0;
		b->accepted = 0;
		return false;
	}
	commit_and_reply(r, b);
	return true;
}

void api_telemetry_post(struct req *r)
{
	json_t *body, *list;
	struct batch *b;

	/* in the arena, with its rows freed when the request ends: a parked
	 * request outlives this call */
	if ((b = arena_calloc(r->arena, 1, sizeof(*b))) == NULL) {
		http_reply_err(r, RAMP_ENOMEM, NULL);
		return;
	}
	b->r = r;
	r->stream = b;
	r->cleanup = free_rows;
	if (!http_check_ctype(r, false) || try_fast(r, b))
		return;
	if ((body = http_json_body(r)) == NULL)
		return;
	list = reports_of(r, body, &b->shape);
	json_decref(body);
	if (list == NULL)
		return;
	b->n = json_array_size(list);
	if (b->n > TELEMETRY_BATCH_MAX)
		http_reply_problem(r, 413, b->shape == SHAPE_WRAPPED ? "reports" : NULL,
				   "at most %d reports per request, got %zu", TELEMETRY_BATCH_MAX,
				   b->n);
	else if (b->n == 0)
		http_reply_problem(r, 400, b->shape == SHAPE_WRAPPED ? "reports" : NULL,
				   "no reports: the list is empty");
	else
		ingest_batch(r, list, b);
	json_decref(list);
}

/* --- MQTT (engine/mqtt.h): the payload is exactly a POST's body, the
 * topic's device the device the reports must name --- */

static void mqtt_release(void *owner)
{
	struct mqtt_req *q = owner;

	if (q->r.cleanup)
		q->r.cleanup(&q->r);
	snapshot_release(q->r.snap);
	free(q->r.resp);
	arena_free(q->r.arena);
	free(q);
}

/* The verdict of a finished request, by its reply. */
static void mqtt_verdict(struct req *r)
{
	struct mqtt_req *q = container_of_mqtt(r);
	struct batch *b = r->stream;
	const char *why = r->resp ? arena_strndup(r->arena, r->resp, r->resp_len > 150 ? 150 : r->resp_len) : NULL;

	if (r->status == 202)
		mqtt_msg_done(q->m, b && b->ib.duplicate ? MQTT_DUPLICATE : MQTT_STORED,
			      b && b->accepted < b->n ? why : NULL);
	else if (r->status == 503 || r->status == 500 || r->status == 0)
		mqtt_msg_done(q->m, MQTT_RETRY, why);
	else
		mqtt_msg_done(q->m, MQTT_INVALID, why);
}

void api_telemetry_mqtt(struct app *app, const char *device_id, const char *body, size_t len,
			struct mqtt_msg *m)
{
	struct mqtt_req *q = calloc(1, sizeof(*q));
	struct req *r = q ? &q->r : NULL;
	struct batch *b;
	struct snapshot *s;
	json_t *json, *list;
	uint64_t gen;

	if (q == NULL || (r->arena = arena_new()) == NULL) {
		free(q);
		mqtt_msg_done(m, MQTT_RETRY, "out of memory");
		return;
	}
	q->m = m;
	m->owner = q;
	m->release = mqtt_release;
	r->app = app;
	r->method = "MQTT";
	r->path = "ramp/telemetry";
	r->in_worker = true; /* nothing to suspend */
	r->unparked = mqtt_verdict;
	r->auth.role = ROLE_DEVICE;
	r->auth.name = "mqtt";
	r->auth.epoch = auth_epoch();
	r->auth.device_id = arena_strdup(r->arena, device_id);
	r->body = arena_strndup(r->arena, body ? body : "", len);
	r->body_len = len;
	b = arena_calloc(r->arena, 1, sizeof(*b));
	if (r->auth.device_id == NULL || r->body == NULL || b == NULL) {
		mqtt_msg_done(m, MQTT_RETRY, "out of memory");
		return;
	}
	/* the broker vouched for the publisher; the snapshot for the device */
	s = http_snapshot(r);
	if (s == NULL || !snapshot_has_device(s, device_id, &gen) ||
	    auth_device_overruled(device_id, gen)) {
		ingest_note_rejected("unknown_device", 1);
		mqtt_msg_done(m, s ? MQTT_UNKNOWN : MQTT_RETRY, "unknown device");
		return;
	}
	b->r = r;
	r->stream = b;
	r->cleanup = free_rows;
	if (len > HTTP_MAX_BODY) {
		http_reply_problem(r, 413, NULL, "payload exceeds %d bytes", HTTP_MAX_BODY);
	} else if (!try_fast(r, b)) {
		json_error_t jerr;
		if ((json = json_loadb(r->body, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
			http_reply_problem(r, 400, NULL, "malformed JSON: %s", jerr.text);
		} else {
			list = reports_of(r, json, &b->shape);
			json_decref(json);
			if (list) {
				b->n = json_array_size(list);
				if (b->n > TELEMETRY_BATCH_MAX || b->n == 0)
					http_reply_problem(r, 400, NULL, "%zu reports: 1 to %d per message",
							   b->n, TELEMETRY_BATCH_MAX);
				else
					ingest_batch(r, list, b);
				json_decref(list);
			}
		}
	}
	/* parked: the writer calls mqtt_verdict() (maybe already did) */
	if (!r->parked)
		mqtt_verdict(r);
}
