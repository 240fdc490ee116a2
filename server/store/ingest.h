/*
 * ingest.h - the telemetry writer: group commit of validated reports.
 *
 * HTTP handlers format their accepted reports as COPY text rows
 * (ingest_format_row) and hand them over with ingest_submit(), which blocks
 * until the writer thread has committed the COPY that carried them. The
 * writer takes everything queued at once, so many concurrent requests share
 * one COPY and one commit (docs/internals/ingest.md). The queue is bounded
 * in rows (RAMP_INGEST_QUEUE, default 200,000): a submit that does not fit
 * fails at once with RAMP_EBUSY instead of buffering without bound.
 *
 * A housekeeping thread started alongside runs store_telemetry_maintain()
 * at start and hourly (partitions ahead, retention).
 */
#ifndef RAMP_INGEST_H
#define RAMP_INGEST_H

#include "app.h"
#include "common/arena.h"
#include "domain/telemetry.h"

#include <stddef.h>

#define INGEST_QUEUE_DEFAULT 200000
#define INGEST_MAINTAIN_EVERY_S 3600

/* A growing byte buffer of COPY rows; free with ingest_buf_free(). */
struct ingest_buf {
	char *p;
	size_t len, cap;
	int oom; /* an append failed; the buffer is unusable */
};

/* Starts the writer (its own libpq connection to app->db's server) and the
 * housekeeping thread. 0, or -1 (logged) when a setting is bad or a thread
 * cannot start. */
int ingest_start(struct app *app);
/* Commits what is queued, then stops and joins both threads; safe when
 * never started. No ingest_submit() may run concurrently. */
void ingest_stop(void);

/* Appends r as one COPY text-format line for the columns ingest writes
 * (INGEST_COPY_COLUMNS). On allocation failure sets b->oom. */
void ingest_format_row(struct ingest_buf *b, const struct telemetry_report *r);
void ingest_buf_free(struct ingest_buf *b);

/* Queues nrows rows (len bytes of COPY text, each line ending in '\n') and
 * waits until they are committed. Returns 0 when committed; RAMP_EBUSY when
 * the queue is full (nothing queued); RAMP_EUNAVAIL when the commit failed
 * (nothing committed). data stays the caller's and must live until return. */
int ingest_submit(const char *data, size_t len, int nrows);

/* Counts reports a handler rejected; reason is a label value
 * ("invalid", "wrong_device", "unknown_device"). */
void ingest_note_rejected(const char *reason, int n);

/* The ingest figures in Prometheus text format, allocated in a. */
char *ingest_metrics_text(struct arena *a);

#endif
