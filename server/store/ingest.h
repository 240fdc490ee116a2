/*
 * ingest.h - the telemetry writer: group commit of validated reports.
 *
 * HTTP handlers add their accepted reports (struct telemetry_report) to a
 * batch with ingest_batch_add(), which writes each as a binary COPY tuple
 * (the format is the store's: ingest_rows.c), park their request and hand the
 * batch over with ingest_enqueue(); the writer thread calls the batch's
 * done() once the COPY that carried it has committed (or failed, or admit()
 * refused it). The writer takes
 * everything queued at once, so many concurrent requests share one COPY and
 * one commit (docs/internals/ingest.md). The queue is bounded in rows
 * (RAMP_INGEST_QUEUE, default 200,000): a batch that does not fit is
 * refused at once with RAMP_EBUSY instead of buffering without bound.
 *
 * A housekeeping thread started alongside runs store_telemetry_maintain()
 * at start and hourly (partitions ahead, retention).
 */
#ifndef RAMP_INGEST_H
#define RAMP_INGEST_H

#include "app.h"
#include "common/arena.h"
#include "common/buf.h"
#include "domain/otlp.h"
#include "domain/telemetry.h"

#include <stdbool.h>
#include <stddef.h>

#define INGEST_QUEUE_DEFAULT 200000
#define INGEST_MAINTAIN_EVERY_S 3600

/* The columns of a row, in the order ingest_format_row() writes them. */
#define INGEST_COPY_COLUMNS                                                                        \
	"ts, device_id, model, version, requests, errors, latency_ms, lat_bounds,"                 \
	" lat_counts, conf_bounds, conf_counts, cpu_pct, mem_pct, npu_pct,"                        \
	" temperature_c, disk_free_mb, model_load_ms, confidence_mean, exceptions,"                \
	" oom_kills, timeouts, shadow_version, shadow_requests, shadow_agree,"                      \
	" shadow_dropped, shadow_mad, shadow_conf_shift, shadow_latency_p95_ms"

/* Starts the writer (its own libpq connection to app->db's server) and the
 * housekeeping thread. 0, RAMP_ENOMEM, or RAMP_EINTERNAL (logged) when a
 * thread cannot start. */
int ingest_start(struct app *app);
/* Refuses new batches, commits what is queued (calling their done()), then
 * stops and joins both threads; safe when never started. Call it before
 * http_stop(), so that no request stays parked. */
void ingest_stop(void);

/* Appends r as one binary COPY tuple of the columns ingest writes
 * (INGEST_COPY_COLUMNS). On allocation failure (or past b's cap) b is left
 * failed (buf_failed()). Used by ingest_batch_add(); public for its unit
 * test. */
void ingest_format_row(struct buf *b, const struct telemetry_report *r);
/* The bytes a binary COPY stream opens with (signature, flags, extension
 * length) and ends with (a field count of -1); static, *len set. */
const char *ingest_copy_header(size_t *len);
const char *ingest_copy_trailer(size_t *len);

struct ingest_batch;
/* Runs on the writer thread after the commit: rc 0 when the rows are
 * committed, RAMP_EUNAVAIL when nothing was. The batch may be freed by the
 * time it returns; it must not block. */
typedef void (*ingest_done_fn)(struct ingest_batch *b, int rc);

/* One request's reports; the caller's memory (zeroed before the first
 * ingest_batch_add()), untouched by the writer after done() returns. */
struct ingest_batch {
	ingest_done_fn done;
	void *ctx;
	/* Optional, run on the writer thread when it takes the batch, before
	 * its COPY: non-zero (a RAMP_E* code) and the batch is not stored, and
	 * done() gets that code. Must not block. */
	int (*admit)(struct ingest_batch *b);
	/* Optional idempotency key (MQTT: hex SHA-256 of topic and payload):
	 * stored in mqtt_keys in the same transaction as the rows; a key
	 * already there stores nothing and done() gets 0 with duplicate set. */
	const char *key;
	bool duplicate;
	/* the store's: filled by ingest_batch_add() */
	struct buf rows; /* nrows binary COPY tuples */
	int nrows;
	/* Optional: an OTLP request's points (domain/otlp.h), turned into rows
	 * by the writer inside the transaction of their COPY (ingest_otlp.c);
	 * nrows then counts the points, for the queue's bound. */
	const struct otlp_batch *otlp;
	/* the writer's */
	int rc;
	size_t rows_base; /* rows.len before the writer's OTLP rows */
	struct ingest_batch *next;
};

/* Adds one validated report to b (encoded now, on the caller's thread, as
 * a binary COPY tuple). 0, or RAMP_ENOMEM (the batch must then not be enqueued). */
int ingest_batch_add(struct ingest_batch *b, const struct telemetry_report *r);
/* Frees b's rows (not b): after done() ran, or when b was never queued.
 * Safe on a zeroed batch and twice. */
void ingest_batch_free(struct ingest_batch *b);

/* The writer's OTLP step, inside its transaction on conn (a PGconn):
 * advances b->otlp's cumulative streams (otlp_streams, locked) and appends
 * the rows of its reports to b->rows. A batch without cumulative points
 * needs no conn (NULL): its rows are made on the request's thread. 0, RAMP_EUNAVAIL (SQL failed),
 * RAMP_ENOMEM. ttl_s: a new stream's first point counts whole only when it
 * began within it (otlp_delta()). */
int ingest_otlp_rows(void *conn, struct ingest_batch *b, double ttl_s);
/* Deletes streams idle for ttl_s, then all but the cap most recent. */
int ingest_otlp_sweep(void *conn, double ttl_s, long cap);

#define INGEST_OTLP_SWEEP_EVERY_S 60.0 /* RAMP_OTLP_STREAM_TTL, _STREAMS_MAX: config.h */

/* Queues b for the next group commit. 0 when queued (done() will run);
 * RAMP_EBUSY when the queue is full, RAMP_EUNAVAIL when the writer is
 * stopped: then nothing is queued and done() is never called. */
int ingest_enqueue(struct ingest_batch *b);

/* Returns once the group the writer is committing (if any) is done. A
 * batch the writer takes after this call runs its admit() after the call:
 * revoke a credential, call this, then delete, and nothing authenticated
 * before the revocation commits after the delete. */
void ingest_barrier(void);

/* The writer's (ingest_keys.c): the batch after the first n of list; and
 * BEGIN plus the keys of the first n batches inserted on pg, marking those
 * whose key was there (or earlier in the group) duplicate. False when the
 * database refused (the caller rolls back). */
struct pg_conn;
struct ingest_batch *ingest_nth(struct ingest_batch *list, int n);
bool ingest_claim_keys(struct pg_conn *pg, struct ingest_batch *list, int n);

/* Counts reports a handler rejected; reason is a label value
 * ("invalid", "wrong_device", "unknown_device"). */
void ingest_note_rejected(const char *reason, int n);

/* The ingest figures in Prometheus text format, allocated in a. */
char *ingest_metrics_text(struct arena *a);

#endif
