/*
 * ingest.c - the telemetry writer thread, its bounded queue, the ingest
 * figures, and the telemetry housekeeping thread (the row format is
 * ingest_rows.c).
 *
 * Invariants: a batch is on the queue or in the writer's hands from
 * ingest_enqueue() until the writer calls its done(); the writer never
 * touches it after that (it lives in the request's arena). queued_rows
 * counts queued and in-flight rows, so the bound covers every row held in
 * memory. A batch's rc is 0 only after the COPY, its own transaction,
 * reported its commit.
 */
#include "store/ingest.h"

#include "common/clock.h"
#include "common/log.h"
#include "store/store.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define INGEST_COPY_SQL "COPY telemetry (" INGEST_COPY_COLUMNS ") FROM STDIN (FORMAT binary)"
#define MAINT_RETRY_S 60

static struct {
	pthread_mutex_t mu;
	pthread_cond_t work, maint, group_done;
	bool conds_made;
	struct ingest_batch *head, *tail;
	uint64_t groups_taken, groups_done; /* ingest_barrier() waits on these */
	long queued_rows, cap;
	bool started, stopping, maint_started;
	pthread_t writer, maint_thread;
	PGconn *pg;
	char *conninfo;
	struct app *app;
	time_t last_warn;
} ing = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* --- figures --- */

static const double rows_bounds[] = {1, 10, 50, 100, 500, 1000, 5000, 10000, 50000, 200000};
#define NROWSB (sizeof(rows_bounds) / sizeof(rows_bounds[0]))
/* clang-format off */
static const double sec_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
				    0.1, 0.25, 0.5, 1, 2.5, 5, 10};
/* clang-format on */
#define NSECB (sizeof(sec_bounds) / sizeof(sec_bounds[0]))
static const double req_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
#define NREQB (sizeof(req_bounds) / sizeof(req_bounds[0]))
static const char *const reject_reasons[] = {"invalid", "wrong_device", "unknown_device"};
#define NREASONS (sizeof(reject_reasons) / sizeof(reject_reasons[0]))

struct histo {
	atomic_ulong buckets[16]; /* per bucket, +Inf last; cumulated when printed */
	atomic_ullong sum;	  /* in units of 1/scale */
	double scale;		  /* 1e6 for seconds (microseconds), 1 for counts */
};

static struct {
	atomic_ulong accepted, duplicates, rejected[NREASONS], queue_full, commit_failed;
	struct histo rows, secs, reqs;
	atomic_ulong maint_runs, maint_failures, created, dropped, expired;
} fig = {.rows.scale = 1, .secs.scale = 1e6, .reqs.scale = 1};

static void histo_add(struct histo *h, const double *bounds, size_t nb, double v)
{
	size_t i = 0;

	while (i < nb && v > bounds[i])
		i++;
	atomic_fetch_add(&h->buckets[i], 1);
	atomic_fetch_add(&h->sum, (unsigned long long)llround(v * h->scale));
}

/* --- the writer --- */

/* One warning per 5 s at most while the database is down. */
static void warn_pg(const char *what)
{
	time_t now = time(NULL);
	char msg[256];

	if (now - ing.last_warn < 5)
		return;
	ing.last_warn = now;
	snprintf(msg, sizeof(msg), "%s", ing.pg ? PQerrorMessage(ing.pg) : "no connection");
	msg[strcspn(msg, "\n")] = '\0';
	log_warn("msg=\"telemetry writer: %s\" error=\"%s\"", what, msg);
}

static void drop_conn(void)
{
	PQfinish(ing.pg);
	ing.pg = NULL;
}

/* A command that must answer COMMAND_OK; false otherwise (result cleared). */
static bool exec_ok(const char *sql)
{
	PGresult *r = PQexec(ing.pg, sql);
	bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;

	PQclear(r);
	return ok;
}

/* The writer's own connection, (re)made when needed; synchronous_commit is
 * forced on so that a commit means the WAL is on disk. */
static bool ensure_conn(void)
{
	if (ing.pg && PQstatus(ing.pg) == CONNECTION_OK)
		return true;
	if (ing.pg)
		drop_conn();
	ing.pg = PQconnectdb(ing.conninfo);
	if (PQstatus(ing.pg) != CONNECTION_OK ||
	    !exec_ok("SET synchronous_commit = on; SET statement_timeout = '30s';"
		     " SET TIME ZONE 'UTC'")) {
		warn_pg("could not connect");
		drop_conn();
		return false;
	}
	return true;
}

/* The rows of the first n batches of list between the binary stream's
 * header and trailer; false when libpq could not take them. */
static bool put_rows(struct ingest_batch *list, int n)
{
	size_t hl, tl;
	const char *head = ingest_copy_header(&hl), *tail = ingest_copy_trailer(&tl);

	if (PQputCopyData(ing.pg, head, (int)hl) != 1)
		return false;
	for (struct ingest_batch *b = list; n-- > 0; b = b->next)
		if (!b->duplicate && PQputCopyData(ing.pg, b->rows.p, (int)b->rows.len) != 1)
			return false;
	return PQputCopyData(ing.pg, tail, (int)tl) == 1 && PQputCopyEnd(ing.pg, NULL) == 1;
}

/* The batches of an OTLP request (b->otlp) make their rows inside the
 * transaction of the COPY (ingest_otlp.c): BEGIN first when any of the
 * first n has one. 1 when a transaction is open, 0 when none is needed,
 * -1 when it failed (the caller rolls back). */
static int otlp_begin(struct ingest_batch *list, int n)
{
	struct ingest_batch *b = list;
	bool any = false;

	for (int i = 0; i < n; i++, b = b->next)
		any = any || b->otlp != NULL;
	if (!any)
		return 0;
	/* the MQTT keys may have opened it already */
	if (PQtransactionStatus(ing.pg) == PQTRANS_IDLE && !exec_ok("BEGIN"))
		return -1;
	b = list;
	for (int i = 0; i < n; i++, b = b->next) {
		if (b->otlp == NULL)
			continue;
		b->rows_base = b->rows.len;
		if (ingest_otlp_rows(ing.pg, b, (double)ing.app->cfg.otlp_stream_ttl_s) != 0)
			return -1; /* the caller rolls back */
	}
	return 1;
}

/* Drops the OTLP rows again (a retry makes them anew). */
static void otlp_end(struct ingest_batch *list, int n)
{
	for (struct ingest_batch *b = list; n-- > 0; b = b->next)
		if (b->otlp != NULL && b->rows.len > b->rows_base)
			b->rows.len = b->rows_base;
}

/* Idle OTLP streams go, every INGEST_OTLP_SWEEP_EVERY_S (a quarter of the
 * TTL when shorter) at most. */
static void otlp_sweep(void)
{
	static double last;
	double now = clock_mono_s(), ttl = (double)ing.app->cfg.otlp_stream_ttl_s;

	if (now - last < (ttl / 4 < INGEST_OTLP_SWEEP_EVERY_S ? ttl / 4 : INGEST_OTLP_SWEEP_EVERY_S))
		return;
	last = now;
	if (ingest_otlp_sweep(ing.pg, ttl, ing.app->cfg.otlp_streams_max) != 0)
		warn_pg("could not evict idle OTLP streams");
}

/* One COPY of the first n batches of list, in autocommit: the COPY is its
 * own transaction, and PostgreSQL commits it (synchronous_commit on: the
 * WAL flushed) before it reports the COPY complete, so COMMAND_OK means
 * committed, two round trips fewer than BEGIN and COMMIT around it (OTLP batches
 * and MQTT messages: BEGIN, their streams and keys, the COPY, COMMIT). 0;
 * RAMP_EUNAVAIL when the connection failed (*maybe_committed when that was
 * after the end of the data went out); RAMP_EINTERNAL when the server
 * refused the data (nothing committed). */
static int copy_batches(struct ingest_batch *list, int n, bool *maybe_committed)
{
	PGresult *r;
	bool ok = false, keyed = false;
	int tx = 0;

	*maybe_committed = false;
	if (!ensure_conn())
		return RAMP_EUNAVAIL;
	for (struct ingest_batch *b = list; b && b != ingest_nth(list, n); b = b->next) {
		b->duplicate = false;
		keyed = keyed || b->key;
	}
	/* MQTT's keys and OTLP's streams are written in the rows' transaction */
	if (keyed && !ingest_claim_keys(ing.pg, list, n))
		goto fail;
	if ((tx = otlp_begin(list, n)) < 0)
		goto fail;
	r = PQexec(ing.pg, INGEST_COPY_SQL);
	ok = PQresultStatus(r) == PGRES_COPY_IN;
	PQclear(r);
	if (!ok || !put_rows(list, n))
		goto fail;
	*maybe_committed = !keyed && tx == 0;
	while ((r = PQgetResult(ing.pg)) != NULL) {
		ok = ok && PQresultStatus(r) == PGRES_COMMAND_OK;
		PQclear(r);
	}
	if (ok && (keyed || tx == 1)) {
		*maybe_committed = true;
		ok = exec_ok("COMMIT");
	}
	otlp_end(list, n);
	if (ok && tx == 1)
		otlp_sweep();
	if (ok)
		return 0;
fail:
	otlp_end(list, n);
	if (PQstatus(ing.pg) == CONNECTION_OK && PQtransactionStatus(ing.pg) != PQTRANS_IDLE)
		exec_ok("ROLLBACK");
	warn_pg("could not commit telemetry");
	if (PQstatus(ing.pg) != CONNECTION_OK) {
		drop_conn();
		return RAMP_EUNAVAIL;
	}
	*maybe_committed = false;
	return RAMP_EINTERNAL;
}

/* Writes n batches; a connection found dead before the data's end went out (an idle
 * connection after a database restart) gets one retry on a fresh one. */
static int copy_retry(struct ingest_batch *list, int n)
{
	bool maybe;
	int rc = copy_batches(list, n, &maybe);

	if (rc == RAMP_EUNAVAIL && !maybe)
		rc = copy_batches(list, n, &maybe);
	return rc;
}

/* Commits a group; when the server refuses a group of several requests,
 * each is retried alone so one bad batch cannot fail the others. */
static void commit_group(struct ingest_batch *g)
{
	double t0 = clock_mono_s();
	long rows = 0;
	int n = 0, rc;

	for (struct ingest_batch *b = g; b; b = b->next, n++)
		rows += b->nrows;
	rc = copy_retry(g, n);
	for (struct ingest_batch *b = g; b; b = b->next)
		b->rc = rc == RAMP_EINTERNAL && n > 1 ? copy_retry(b, 1) : rc;
	histo_add(&fig.secs, sec_bounds, NSECB, clock_mono_s() - t0);
	histo_add(&fig.rows, rows_bounds, NROWSB, (double)rows);
	histo_add(&fig.reqs, req_bounds, NREQB, (double)n);
	for (struct ingest_batch *b = g; b; b = b->next) {
		if (b->rc == 0 && b->duplicate)
			atomic_fetch_add(&fig.duplicates, (unsigned long)b->nrows);
		else if (b->rc == 0)
			atomic_fetch_add(&fig.accepted, (unsigned long)b->nrows);
		else
			atomic_fetch_add(&fig.commit_failed, 1);
	}
}

/* Hands each batch of a committed (or failed) group back to its owner. */
static void finish_group(struct ingest_batch *g)
{
	struct ingest_batch *next;

	pthread_mutex_lock(&ing.mu);
	for (struct ingest_batch *b = g; b; b = b->next)
		ing.queued_rows -= b->nrows;
	pthread_mutex_unlock(&ing.mu);
	for (; g; g = next) {
		next = g->next; /* g may be gone once done() returns */
		g->done(g, g->rc == 0 ? 0 : RAMP_EUNAVAIL);
	}
}

/* Takes the batches admit() refuses out of g into *refused (their rc set);
 * returns what is left to commit. */
static struct ingest_batch *admit_group(struct ingest_batch *g, struct ingest_batch **refused)
{
	struct ingest_batch **pp = &g, *b;

	*refused = NULL;
	while ((b = *pp) != NULL) {
		int rc = b->admit ? b->admit(b) : 0;
		if (rc == 0) {
			pp = &b->next;
			continue;
		}
		*pp = b->next;
		b->rc = rc;
		b->next = *refused;
		*refused = b;
	}
	return g;
}

void ingest_barrier(void)
{
	uint64_t target;

	pthread_mutex_lock(&ing.mu);
	target = ing.groups_taken;
	while (ing.started && ing.groups_done < target)
		pthread_cond_wait(&ing.group_done, &ing.mu);
	pthread_mutex_unlock(&ing.mu);
}

static void *writer_main(void *arg)
{
	struct ingest_batch *g, *refused, *next;

	(void)arg;
	pthread_mutex_lock(&ing.mu);
	for (;;) {
		while (ing.head == NULL && !ing.stopping)
			pthread_cond_wait(&ing.work, &ing.mu);
		if (ing.head == NULL)
			break;
		g = ing.head;
		ing.head = ing.tail = NULL;
		ing.groups_taken++;
		pthread_mutex_unlock(&ing.mu);
		g = admit_group(g, &refused);
		if (g) {
			commit_group(g);
			finish_group(g);
		}
		for (; refused; refused = next) {
			next = refused->next;
			pthread_mutex_lock(&ing.mu);
			ing.queued_rows -= refused->nrows;
			pthread_mutex_unlock(&ing.mu);
			refused->done(refused, refused->rc);
		}
		pthread_mutex_lock(&ing.mu);
		ing.groups_done++;
		pthread_cond_broadcast(&ing.group_done);
	}
	pthread_mutex_unlock(&ing.mu);
	if (ing.pg)
		drop_conn();
	return NULL;
}

int ingest_enqueue(struct ingest_batch *b)
{
	pthread_mutex_lock(&ing.mu);
	if (!ing.started || ing.stopping) {
		pthread_mutex_unlock(&ing.mu);
		return RAMP_EUNAVAIL;
	}
	/* a batch larger than the whole queue still goes in alone */
	if (ing.queued_rows > 0 && ing.queued_rows + b->nrows > ing.cap) {
		pthread_mutex_unlock(&ing.mu);
		atomic_fetch_add(&fig.queue_full, 1);
		return RAMP_EBUSY;
	}
	b->rc = 0;
	b->next = NULL;
	if (ing.tail)
		ing.tail->next = b;
	else
		ing.head = b;
	ing.tail = b;
	ing.queued_rows += b->nrows;
	pthread_cond_signal(&ing.work);
	pthread_mutex_unlock(&ing.mu);
	return 0;
}

void ingest_note_rejected(const char *reason, int n)
{
	for (size_t i = 0; i < NREASONS; i++)
		if (strcmp(reason, reject_reasons[i]) == 0)
			atomic_fetch_add(&fig.rejected[i], (unsigned long)n);
}

/* --- housekeeping --- */

static void maintain_once(void)
{
	struct telemetry_maint m;
	int rc = store_telemetry_maintain(ing.app->db, ing.app->cfg.telemetry_retention_s, &m);

	atomic_fetch_add(&fig.maint_runs, 1);
	if (rc) {
		atomic_fetch_add(&fig.maint_failures, 1);
		log_warn("msg=\"telemetry maintenance failed\" error=\"%s\"", ramp_strerror(rc));
		return;
	}
	atomic_fetch_add(&fig.created, (unsigned long)m.created);
	atomic_fetch_add(&fig.dropped, (unsigned long)m.dropped);
	atomic_fetch_add(&fig.expired, (unsigned long)m.deleted);
	if (m.created || m.dropped || m.deleted)
		log_info("msg=\"telemetry maintenance\" partitions_created=%d partitions_dropped=%d"
			 " rows_expired=%lld",
			 m.created, m.dropped, (long long)m.deleted);
}

static void *maint_main(void *arg)
{
	struct timespec until;
	unsigned long failures;

	(void)arg;
	pthread_mutex_lock(&ing.mu);
	while (!ing.stopping) {
		pthread_mutex_unlock(&ing.mu);
		failures = atomic_load(&fig.maint_failures);
		maintain_once();
		until = clock_deadline(1000LL * (atomic_load(&fig.maint_failures) != failures
							 ? MAINT_RETRY_S
							 : INGEST_MAINTAIN_EVERY_S));
		pthread_mutex_lock(&ing.mu);
		while (!ing.stopping &&
		       pthread_cond_timedwait(&ing.maint, &ing.mu, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&ing.mu);
	return NULL;
}

int ingest_start(struct app *app)
{
	size_t n;

	ing.cap = app->cfg.ingest_queue; /* RAMP_INGEST_QUEUE, read by config.c */
	n = strlen(db_conninfo(app->db)) + 64;
	ing.conninfo = malloc(n);
	if (ing.conninfo == NULL)
		return RAMP_ENOMEM;
	snprintf(ing.conninfo, n, "%s application_name=rampd-ingest", db_conninfo(app->db));
	ing.app = app;
	/* every wait in rampd is on the monotonic clock, the untimed ones too;
	 * those two live on after a stop (a late barrier may still wait) */
	if (!ing.conds_made) {
		clock_cond_init(&ing.work);
		clock_cond_init(&ing.group_done);
		ing.conds_made = true;
	}
	clock_cond_init(&ing.maint);
	ing.stopping = false;
	if (pthread_create(&ing.writer, NULL, writer_main, NULL) != 0) {
		log_error("msg=\"could not start the telemetry writer\"");
		free(ing.conninfo);
		ing.conninfo = NULL;
		return RAMP_EINTERNAL;
	}
	ing.started = true;
	if (pthread_create(&ing.maint_thread, NULL, maint_main, NULL) != 0) {
		log_error("msg=\"could not start telemetry maintenance\"");
		ingest_stop();
		return RAMP_EINTERNAL;
	}
	ing.maint_started = true;
	return 0;
}

void ingest_stop(void)
{
	if (!ing.started)
		return;
	pthread_mutex_lock(&ing.mu);
	ing.stopping = true;
	pthread_cond_broadcast(&ing.work);
	pthread_cond_broadcast(&ing.maint);
	pthread_mutex_unlock(&ing.mu);
	pthread_join(ing.writer, NULL);
	if (ing.maint_started)
		pthread_join(ing.maint_thread, NULL);
	pthread_cond_destroy(&ing.maint);
	free(ing.conninfo);
	ing.conninfo = NULL;
	ing.started = ing.maint_started = false;
}

/* --- /metrics --- */

static void print_histo(struct buf *b, const char *name, const char *help, struct histo *h,
			const double *bounds, size_t nb)
{
	unsigned long cum = 0;

	buf_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (size_t i = 0; i <= nb; i++) {
		cum += atomic_load(&h->buckets[i]);
		if (i < nb)
			buf_printf(b, "%s_bucket{le=\"%g\"} %lu\n", name, bounds[i], cum);
		else
			buf_printf(b, "%s_bucket{le=\"+Inf\"} %lu\n", name, cum);
	}
	buf_printf(b, "%s_sum %.15g\n", name, (double)atomic_load(&h->sum) / h->scale);
	buf_printf(b, "%s_count %lu\n", name, cum);
}

static void print_counter(struct buf *b, const char *name, const char *help, unsigned long v)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %lu\n", name, help, name, name,
			  v);
}

static void print_figures(struct buf *b)
{
	long queued, cap;

	pthread_mutex_lock(&ing.mu);
	queued = ing.queued_rows;
	cap = ing.cap;
	pthread_mutex_unlock(&ing.mu);
	print_counter(b, "ramp_telemetry_reports_accepted_total",
		      "Telemetry reports committed to the database.", atomic_load(&fig.accepted));
	print_counter(b, "ramp_telemetry_reports_duplicate_total",
		      "Telemetry reports not stored again: their MQTT message's key was committed before.",
		      atomic_load(&fig.duplicates));
	buf_printf(b,
			  "# HELP ramp_telemetry_reports_rejected_total Telemetry reports refused"
			  " at validation, by reason.\n"
			  "# TYPE ramp_telemetry_reports_rejected_total counter\n");
	for (size_t i = 0; i < NREASONS; i++)
		buf_printf(b, "ramp_telemetry_reports_rejected_total{reason=\"%s\"} %lu\n",
				  reject_reasons[i], atomic_load(&fig.rejected[i]));
	buf_printf(
	    b,
	    "# HELP ramp_telemetry_requests_unavailable_total Telemetry requests"
	    " answered 503, nothing stored, by reason.\n"
	    "# TYPE ramp_telemetry_requests_unavailable_total counter\n"
	    "ramp_telemetry_requests_unavailable_total{reason=\"queue_full\"} %lu\n"
	    "ramp_telemetry_requests_unavailable_total{reason=\"commit_failed\"} %lu\n",
	    atomic_load(&fig.queue_full), atomic_load(&fig.commit_failed));
	print_histo(b, "ramp_telemetry_batch_rows", "Reports written per group commit.", &fig.rows,
		    rows_bounds, NROWSB);
	print_histo(b, "ramp_telemetry_commit_requests", "Requests sharing one group commit.",
		    &fig.reqs, req_bounds, NREQB);
	print_histo(b, "ramp_telemetry_commit_seconds",
		    "Time to write and commit one group (one COPY, its own transaction).", &fig.secs,
		    sec_bounds, NSECB);
	buf_printf(b,
			  "# HELP ramp_telemetry_queue_rows Reports queued or being committed.\n"
			  "# TYPE ramp_telemetry_queue_rows gauge\nramp_telemetry_queue_rows %ld\n"
			  "# HELP ramp_telemetry_queue_capacity_rows Reports the queue may hold"
			  " (RAMP_INGEST_QUEUE).\n"
			  "# TYPE ramp_telemetry_queue_capacity_rows gauge\n"
			  "ramp_telemetry_queue_capacity_rows %ld\n",
			  queued, cap);
	print_counter(b, "ramp_telemetry_maintenance_runs_total",
		      "Telemetry housekeeping passes (partitions ahead, retention).",
		      atomic_load(&fig.maint_runs));
	print_counter(b, "ramp_telemetry_maintenance_failures_total",
		      "Telemetry housekeeping passes that failed.",
		      atomic_load(&fig.maint_failures));
	print_counter(b, "ramp_telemetry_partitions_created_total",
		      "Daily telemetry partitions created by housekeeping.",
		      atomic_load(&fig.created));
	print_counter(b, "ramp_telemetry_partitions_dropped_total",
		      "Daily telemetry partitions dropped for retention.",
		      atomic_load(&fig.dropped));
	print_counter(b, "ramp_telemetry_rows_expired_total",
		      "Reports deleted from the default partition for retention.",
		      atomic_load(&fig.expired));
}

char *ingest_metrics_text(struct arena *a)
{
	struct buf b = {0};
	char *out;

	print_figures(&b);
	out = buf_failed(&b) || b.p == NULL ? NULL : arena_strndup(a, b.p, b.len);
	buf_free(&b);
	return out;
}
