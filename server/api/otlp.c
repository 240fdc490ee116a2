/*
 * otlp.c - POST /otlp/v1/metrics: the OTLP/HTTP metrics receiver, so an
 * OpenTelemetry SDK or Collector exporting to http://<rampd>/otlp feeds
 * ramp's telemetry (docs/telemetry.md, "OpenTelemetry").
 *
 * The body (application/x-protobuf or application/json, either one
 * gzip-compressed or not) is inflated under a cap, decoded and mapped by
 * domain/otlp.h; each point's device is then judged as POST /v1/telemetry
 * judges a report's (device tokens: their own device only; ingest and
 * admin tokens: registered devices). The points kept ride one batch of
 * the group-commit writer (store/ingest.h), which turns cumulative streams
 * into increases and the points into rows inside the transaction of their
 * COPY; the request is parked and answered 200 once that has committed,
 * with partial_success naming the points refused. Nothing kept: 400 (403
 * when every refusal was another device's id); a full queue or a failed
 * commit: 503 with Retry-After, nothing stored.
 */
#include "api/api.h"

#include "auth/auth.h"

#include "common/clock.h"
#include "domain/otlp.h"
#include "engine/engine.h"
#include "snapshot/snapshot.h"
#include "store/ingest.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#define OTLP_INFLATED_MAX (16 * 1024 * 1024) /* a gzip body inflates to at most this */

static struct {
	atomic_ulong requests, points, unknown, rejected, malformed, too_big;
} fig;

struct otlp_req {
	struct req *r;
	struct ingest_batch ib;
	struct otlp_batch ob;
	bool json;
	char *inflated; /* malloc'd */
	char *ok_body;	/* the 200's body, built before the commit (malloc) */
	size_t ok_len;
	int64_t wrong_device, unknown_device;
	char why[256]; /* the first device refusal */
};

static void cleanup(struct req *r)
{
	struct otlp_req *o = r->stream;

	ingest_batch_free(&o->ib);
	otlp_batch_free(&o->ob);
	free(o->inflated);
	free(o->ok_body);
	o->inflated = o->ok_body = NULL;
}

/* "application/x-protobuf" or "application/json" (parameters allowed);
 * false after replying 415. */
static bool content_type(struct req *r, struct otlp_req *o)
{
	const char *ct = http_header(r, "Content-Type");
	size_t n = ct ? strcspn(ct, "; ") : 0;

	if (ct && n == 22 && strncasecmp(ct, "application/x-protobuf", n) == 0)
		return true;
	if (ct && n == 16 && strncasecmp(ct, "application/json", n) == 0)
		return o->json = true;
	http_reply_problem(r, 415, "Content-Type",
			   "unsupported content type \"%.64s\"; send application/x-protobuf or"
			   " application/json",
			   ct ? ct : "");
	return false;
}

/* Inflates a gzip body into o->inflated, at most OTLP_INFLATED_MAX bytes.
 * 0, or the HTTP status it replied with. */
static int inflate_body(struct req *r, struct otlp_req *o, size_t *len)
{
	z_stream z;
	size_t cap = 64 * 1024;
	int zr = Z_OK;

	memset(&z, 0, sizeof(z));
	if ((o->inflated = malloc(cap)) == NULL || inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
		http_reply_err(r, RAMP_ENOMEM, NULL);
		return 503;
	}
	z.next_in = (unsigned char *)r->body;
	z.avail_in = (uInt)r->body_len;
	while (zr != Z_STREAM_END) {
		if (z.total_out == cap) {
			char *p;
			if (cap >= OTLP_INFLATED_MAX) {
				inflateEnd(&z);
				atomic_fetch_add(&fig.too_big, 1);
				http_reply_problem(r, 413, NULL,
						   "gzip body inflates to more than %d bytes",
						   OTLP_INFLATED_MAX);
				return 413;
			}
			cap = cap * 4 > OTLP_INFLATED_MAX ? OTLP_INFLATED_MAX : cap * 4;
			if ((p = realloc(o->inflated, cap)) == NULL) {
				inflateEnd(&z);
				http_reply_err(r, RAMP_ENOMEM, NULL);
				return 503;
			}
			o->inflated = p;
		}
		z.next_out = (unsigned char *)o->inflated + z.total_out;
		z.avail_out = (uInt)(cap - z.total_out);
		zr = inflate(&z, Z_NO_FLUSH);
		if (zr != Z_OK && zr != Z_STREAM_END) {
			inflateEnd(&z);
			atomic_fetch_add(&fig.malformed, 1);
			http_reply_problem(r, 400, "Content-Encoding",
					   "body is not valid gzip data (truncated or corrupt)");
			return 400;
		}
	}
	*len = z.total_out;
	inflateEnd(&z);
	return 0;
}

/* Decodes the (inflated) body into o->ob; false after replying. */
static bool decode(struct req *r, struct otlp_req *o)
{
	const char *enc = http_header(r, "Content-Encoding");
	const char *data = r->body;
	size_t len = r->body_len;
	struct ramp_err err = {0};
	json_error_t jerr;
	json_t *j;
	int rc;

	if (enc && *enc && strcasecmp(enc, "identity") != 0) {
		if (strcasecmp(enc, "gzip") != 0) {
			http_reply_problem(r, 415, "Content-Encoding",
					   "unsupported content encoding \"%.32s\"; send gzip or none",
					   enc);
			return false;
		}
		if (inflate_body(r, o, &len) != 0)
			return false;
		data = o->inflated;
	}
	otlp_batch_init(&o->ob, clock_wall_s());
	if (!o->json) {
		rc = otlp_decode_pb((const uint8_t *)(data ? data : ""), len, &o->ob, &err);
	} else if ((j = json_loadb(data ? data : "", len, 0, &jerr)) == NULL) {
		atomic_fetch_add(&fig.malformed, 1);
		http_reply_problem(r, 400, NULL, "malformed JSON at line %d column %d: %s",
				   jerr.line, jerr.column, jerr.text);
		return false;
	} else {
		rc = otlp_decode_json(j, &o->ob, &err);
		json_decref(j);
	}
	if (rc == 0)
		return true;
	otlp_batch_free(&o->ob);
	if (rc == RAMP_ENOMEM) {
		http_reply_err(r, rc, NULL);
	} else if (rc == RAMP_ETOOBIG) {
		atomic_fetch_add(&fig.too_big, 1);
		http_reply_problem(r, 413, NULL, "%s", err.msg);
	} else {
		atomic_fetch_add(&fig.malformed, 1);
		http_reply_problem(r, 400, err.field[0] ? err.field : NULL, "%s", err.msg);
	}
	return false;
}

static bool snapshot_knows(struct snapshot *s, const char *id)
{
	uint64_t gen;

	return s && snapshot_has_device(s, id, &gen) && !auth_device_overruled(id, gen);
}

/* Marks each group's verdict in ok[] (true: kept). Ingest and admin tokens
 * ask the database about devices the snapshot does not know. */
static int judge_devices(struct req *r, struct otlp_req *o, bool *ok)
{
	struct snapshot *s = r->auth.role == ROLE_DEVICE ? NULL : http_snapshot(r);
	struct otlp_batch *b = &o->ob;
	json_t *missing = NULL, *id;
	size_t len = 0, k, asking = 0;
	char *ids;
	int rc;

	for (size_t g = 0; g < b->ngroups; g++) {
		const char *dev = b->groups[g].device_id;
		if (r->auth.role == ROLE_DEVICE)
			ok[g] = strcmp(dev, r->auth.device_id ? r->auth.device_id : "") == 0;
		else if (!(ok[g] = snapshot_knows(s, dev)))
			asking++, len += strlen(dev) + 1;
	}
	if (asking == 0)
		return 0;
	if ((ids = arena_alloc(r->arena, len + 1)) == NULL)
		return RAMP_ENOMEM;
	len = 0;
	for (size_t g = 0; g < b->ngroups; g++)
		if (!ok[g])
			len += (size_t)sprintf(ids + len, "%s%s", len ? "\n" : "", b->groups[g].device_id);
	ids[len] = '\0';
	if ((rc = store_devices_missing(r->app->db, ids, &missing)) != 0)
		return rc;
	for (size_t g = 0; g < b->ngroups; g++) {
		bool gone = auth_device_overruled(b->groups[g].device_id, 0);
		if (ok[g])
			continue;
		json_array_foreach(missing, k, id) {
			if (strcmp(json_string_value(id), b->groups[g].device_id) == 0)
				gone = true;
		}
		ok[g] = !gone;
	}
	json_decref(missing);
	return 0;
}

/* Drops the points of refused groups, counting them. */
static void keep_judged(struct req *r, struct otlp_req *o, const bool *ok)
{
	struct otlp_batch *b = &o->ob;
	size_t w = 0;

	for (size_t i = 0; i < b->n; i++) {
		const struct otlp_group *g = &b->groups[b->pts[i].group];
		if (ok[b->pts[i].group]) {
			b->pts[w++] = b->pts[i];
			continue;
		}
		if (r->auth.role == ROLE_DEVICE)
			o->wrong_device++;
		else
			o->unknown_device++;
		if (o->why[0] == '\0')
			snprintf(o->why, sizeof(o->why), "device.id \"%s\": %s", g->device_id,
				 r->auth.role == ROLE_DEVICE ? "not this device's id"
							     : "unknown device");
	}
	b->n = w;
}

/* The 200's body: an ExportMetricsServiceResponse, protobuf or JSON. */
static int build_ok_body(struct otlp_req *o)
{
	int64_t rejected = o->ob.rejected + o->wrong_device + o->unknown_device;
	const char *msg = o->ob.error[0] ? o->ob.error : o->why;

	if (!o->json) {
		o->ok_body = (char *)otlp_response_pb(rejected, rejected ? msg : "", &o->ok_len);
	} else {
		json_t *j = rejected == 0 ? json_object()
					  : json_pack("{s:{s:s, s:s}}", "partialSuccess",
						      "rejectedDataPoints",
						      arena_printf(o->r->arena, "%lld", (long long)rejected),
						      "errorMessage", msg);
		o->ok_body = j ? json_dumps(j, JSON_COMPACT) : NULL;
		o->ok_len = o->ok_body ? strlen(o->ok_body) : 0;
		json_decref(j);
	}
	return o->ok_body ? 0 : RAMP_ENOMEM;
}

static void reply_ok(struct req *r, struct otlp_req *o)
{
	http_reply_text(r, 200, o->json ? "application/json" : "application/x-protobuf",
			o->ok_body, o->ok_len);
	o->ok_body = NULL;
}

/* The writer's last look before the COPY, as for /v1/telemetry. */
static int admit(struct ingest_batch *ib)
{
	struct otlp_req *o = ib->ctx;
	const struct auth *a = &o->r->auth;

	if (auth_revoked_since(a, NULL))
		return RAMP_EAUTH;
	for (size_t g = 0; a->role != ROLE_DEVICE && g < o->ob.ngroups; g++)
		if (auth_revoked_since(a, o->ob.groups[g].device_id))
			return RAMP_ECONFLICT;
	return 0;
}

static void on_committed(struct ingest_batch *ib, int rc)
{
	struct otlp_req *o = ib->ctx;
	struct req *r = o->r;

	if (rc == RAMP_EAUTH) {
		http_add_header(r, "WWW-Authenticate", "Bearer");
		http_reply_problem(r, 401, "Authorization", "unknown, expired or revoked token");
	} else if (rc == RAMP_ECONFLICT) {
		http_reply_problem(r, 503, "device.id",
				   "a device of this request was deleted while it was being stored;"
				   " nothing stored, retry");
	} else if (rc == 0) {
		engine_wake(r->app);
		reply_ok(r, o);
	} else {
		http_reply_problem(r, 503, NULL,
				   rc == RAMP_EBUSY ? "telemetry queue is full; nothing stored, retry later"
						    : "telemetry could not be committed; nothing stored,"
						      " retry later");
	}
	http_unpark(r);
}

static void commit_and_reply(struct req *r, struct otlp_req *o)
{
	bool cumulative = false;
	int rc;

	for (size_t i = 0; i < o->ob.n && !cumulative; i++)
		cumulative = o->ob.pts[i].cumulative;
	o->ib.done = on_committed;
	o->ib.admit = admit;
	o->ib.ctx = o;
	o->ib.nrows = (int)o->ob.n;
	if (cumulative) {
		o->ib.otlp = &o->ob; /* the writer makes the rows, in the transaction */
	} else {
		/* no stream to read: the rows are made here, as /v1/telemetry's */
		o->ib.otlp = &o->ob;
		rc = ingest_otlp_rows(NULL, &o->ib, (double)r->app->cfg.otlp_stream_ttl_s);
		o->ib.otlp = NULL;
		if (rc != 0) {
			http_reply_err(r, RAMP_ENOMEM, NULL);
			return;
		}
	}
	http_park(r);
	if ((rc = ingest_enqueue(&o->ib)) != 0) {
		o->ib.nrows = 0;
		http_reply_problem(r, 503, NULL,
				   rc == RAMP_EBUSY ? "telemetry queue is full; nothing stored, retry later"
						    : "telemetry writer is stopped; nothing stored, retry later");
		http_unpark(r);
	}
}

/* Nothing kept, something refused: 400, or 403 when every refusal was
 * another device's id. */
static void reply_none(struct req *r, struct otlp_req *o)
{
	int64_t rejected = o->ob.rejected + o->wrong_device + o->unknown_device;

	http_reply_problem_with(r, o->wrong_device == rejected ? 403 : 400, NULL,
				json_pack("{s:I}", "rejected_data_points", (json_int_t)rejected),
				"no data point accepted: %s",
				o->ob.error[0] ? o->ob.error : o->why);
}

void api_otlp_metrics_post(struct req *r)
{
	struct otlp_req *o = arena_calloc(r->arena, 1, sizeof(*o));
	bool *ok;
	int rc;

	if (o == NULL) {
		http_reply_err(r, RAMP_ENOMEM, NULL);
		return;
	}
	o->r = r;
	r->stream = o;
	r->cleanup = cleanup;
	atomic_fetch_add(&fig.requests, 1);
	if (!content_type(r, o) || !decode(r, o))
		return;
	atomic_fetch_add(&fig.points, (unsigned long)(o->ob.n + (size_t)o->ob.rejected));
	atomic_fetch_add(&fig.unknown, (unsigned long)o->ob.unknown);
	if ((ok = arena_calloc(r->arena, o->ob.ngroups + 1, sizeof(*ok))) == NULL ||
	    (rc = judge_devices(r, o, ok)) != 0) {
		http_reply_err(r, ok ? rc : RAMP_ENOMEM, NULL);
		return;
	}
	keep_judged(r, o, ok);
	atomic_fetch_add(&fig.rejected,
			 (unsigned long)(o->ob.rejected + o->wrong_device + o->unknown_device));
	if (o->ob.n == 0 && o->ob.rejected + o->wrong_device + o->unknown_device > 0) {
		reply_none(r, o);
		return;
	}
	if (build_ok_body(o) != 0) {
		http_reply_err(r, RAMP_ENOMEM, NULL);
		return;
	}
	if (o->ob.n == 0) /* only metrics ramp does not know: nothing to store */
		reply_ok(r, o);
	else
		commit_and_reply(r, o);
}

char *api_otlp_metrics_text(struct arena *a)
{
	return arena_printf(
		a,
		"# HELP ramp_otlp_requests_total OTLP metrics export requests received.\n"
		"# TYPE ramp_otlp_requests_total counter\n"
		"ramp_otlp_requests_total %lu\n"
		"# HELP ramp_otlp_data_points_total OTLP data points of known metrics decoded.\n"
		"# TYPE ramp_otlp_data_points_total counter\n"
		"ramp_otlp_data_points_total %lu\n"
		"# HELP ramp_otlp_unknown_data_points_total Data points of metrics ramp does not map"
		" (ignored).\n"
		"# TYPE ramp_otlp_unknown_data_points_total counter\n"
		"ramp_otlp_unknown_data_points_total %lu\n"
		"# HELP ramp_otlp_rejected_data_points_total Data points refused (partial_success).\n"
		"# TYPE ramp_otlp_rejected_data_points_total counter\n"
		"ramp_otlp_rejected_data_points_total %lu\n"
		"# HELP ramp_otlp_malformed_requests_total Bodies that were not valid OTLP (400).\n"
		"# TYPE ramp_otlp_malformed_requests_total counter\n"
		"ramp_otlp_malformed_requests_total %lu\n"
		"# HELP ramp_otlp_too_large_requests_total Bodies over the caps (413).\n"
		"# TYPE ramp_otlp_too_large_requests_total counter\n"
		"ramp_otlp_too_large_requests_total %lu\n",
		atomic_load(&fig.requests), atomic_load(&fig.points), atomic_load(&fig.unknown),
		atomic_load(&fig.rejected), atomic_load(&fig.malformed), atomic_load(&fig.too_big));
}
