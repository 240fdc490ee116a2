/*
 * ingest_otlp.c - the OTLP part of the telemetry writer: an OTLP request's
 * points become rows inside the transaction of the COPY that carries them.
 *
 * A cumulative stream's last point lives in otlp_streams (schema 012). The
 * writer locks the rows of a batch's streams (inserting the new ones, all
 * in key order, in one upsert that returns their states), turns each point into its increase
 * (otlp_delta()), writes the new last points and appends the reports'
 * rows, then the COPY and the commit follow. A second replica (or a retry
 * on this one) taking the same stream waits for the lock and then sees
 * the point as already counted: nothing is counted twice, and nothing is
 * counted unless its rows commit. Idle streams are evicted after a TTL and
 * the oldest beyond a cap (ingest_otlp_sweep()).
 */
#include "store/ingest.h"

#include "domain/otlp.h"

#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* one round trip: new streams get a row, every stream's row is locked (in
 * key order, waiting for another replica's transaction on it) and its
 * committed state read back */
#define SQL_LOCK                                                                                   \
	"INSERT INTO otlp_streams (key, state) SELECT k, '' FROM unnest($1::text[]) AS k"         \
	" ORDER BY k ON CONFLICT (key) DO UPDATE SET seen_at = otlp_streams.seen_at"              \
	" RETURNING key, state"
#define SQL_SAVE                                                                                   \
	"UPDATE otlp_streams s SET state = u.state, seen_at = now()"                              \
	" FROM unnest($1::text[], $2::text[]) AS u(key, state) WHERE s.key = u.key"
#define SQL_TTL "DELETE FROM otlp_streams WHERE seen_at < now() - make_interval(secs => $1::float8)"
#define SQL_CAP                                                                                    \
	"DELETE FROM otlp_streams WHERE key IN (SELECT key FROM otlp_streams"                     \
	" ORDER BY seen_at DESC OFFSET $1::bigint)"

struct stream {
	const char *key;
	bool have; /* a state was read */
	struct otlp_state st;
};

static int by_key_time(const void *a, const void *b)
{
	const struct otlp_point *const *x = a, *const *y = b;
	int c = strcmp((*x)->key, (*y)->key);

	if (c)
		return c;
	return (*x)->time_ns < (*y)->time_ns ? -1 : (*x)->time_ns > (*y)->time_ns;
}

/* "{"a","b"}" of n strings, each of which needs no escaping (malloc). */
static char *text_array(const char *const *s, size_t n)
{
	size_t len = 3;
	char *out, *p;

	for (size_t i = 0; i < n; i++)
		len += strlen(s[i]) + 3;
	if ((p = out = malloc(len)) == NULL)
		return NULL;
	*p++ = '{';
	for (size_t i = 0; i < n; i++) {
		p += sprintf(p, "%s\"%s\"", i ? "," : "", s[i]);
	}
	*p++ = '}';
	*p = '\0';
	return out;
}

static bool exec_params(PGconn *pg, const char *sql, int n, const char *const *v,
			ExecStatusType want, PGresult **out)
{
	PGresult *r = PQexecParams(pg, sql, n, NULL, v, NULL, NULL, 0);
	bool ok = PQresultStatus(r) == want;

	if (out && ok)
		*out = r;
	else
		PQclear(r);
	return ok;
}

static int by_stream_key(const void *k, const void *e)
{
	return strcmp(k, ((const struct stream *)e)->key);
}

/* Reads the locked states into s[0..n) (sorted by key). */
static void read_states(PGresult *r, struct stream *s, size_t n)
{
	for (int row = 0; row < PQntuples(r); row++) {
		const char *st = PQgetvalue(r, row, 1);
		struct stream *x = bsearch(PQgetvalue(r, row, 0), s, n, sizeof(*s), by_stream_key);
		if (x != NULL && st[0] != '\0')
			x->have = otlp_state_parse(st, &x->st) == 0;
	}
}

struct emit {
	struct ingest_batch *b;
};

static int add_report(void *ctx, const struct telemetry_report *r)
{
	struct emit *e = ctx;

	/* the rows go to the COPY; nrows keeps counting points (the queue's bound) */
	if (ingest_batch_add(e->b, r) != 0)
		return RAMP_ENOMEM;
	e->b->nrows--;
	return 0;
}

/* Advances the streams of the sorted cumulative points c[0..nc) into
 * out (their increases, appended at *nout). */
static int advance(PGconn *pg, const struct otlp_point **c, size_t nc, double ttl_s,
		   struct otlp_point *out, size_t *nout)
{
	struct stream *s = calloc(nc ? nc : 1, sizeof(*s));
	const char **keys = calloc(nc ? nc : 1, sizeof(*keys)), **states = NULL;
	char *karr = NULL, *sarr = NULL, *texts = NULL;
	PGresult *r = NULL;
	size_t ns = 0;
	int rc = RAMP_ENOMEM;

	if (s == NULL || keys == NULL)
		goto out;
	for (size_t i = 0; i < nc; i++)
		if (ns == 0 || strcmp(s[ns - 1].key, c[i]->key) != 0) {
			s[ns].key = c[i]->key;
			keys[ns++] = c[i]->key;
		}
	if ((karr = text_array(keys, ns)) == NULL)
		goto out;
	rc = RAMP_EUNAVAIL;
	if (!exec_params(pg, SQL_LOCK, 1, (const char *const[]){karr}, PGRES_TUPLES_OK, &r))
		goto out;
	read_states(r, s, ns);
	for (size_t i = 0, j = 0; i < nc; i++) {
		struct otlp_state next;
		while (strcmp(s[j].key, c[i]->key) != 0)
			j++;
		enum otlp_verdict v = otlp_delta(s[j].have ? &s[j].st : NULL, c[i], ttl_s,
						 &out[*nout], &next);
		if (otlp_verdict_counts(v))
			(*nout)++;
		s[j].st = next;
		s[j].have = true;
	}
	rc = RAMP_ENOMEM;
	if ((states = calloc(ns ? ns : 1, sizeof(*states))) == NULL ||
	    (texts = malloc(ns * OTLP_STATE_TEXT_MAX + 1)) == NULL)
		goto out;
	for (size_t j = 0; j < ns; j++) {
		otlp_state_format(&s[j].st, texts + j * OTLP_STATE_TEXT_MAX);
		states[j] = texts + j * OTLP_STATE_TEXT_MAX;
	}
	if ((sarr = text_array(states, ns)) == NULL)
		goto out;
	rc = exec_params(pg, SQL_SAVE, 2, (const char *const[]){karr, sarr}, PGRES_COMMAND_OK, NULL)
		     ? 0
		     : RAMP_EUNAVAIL;
out:
	PQclear(r);
	free(s);
	free(keys);
	free(states);
	free(texts);
	free(karr);
	free(sarr);
	return rc;
}

int ingest_otlp_rows(void *conn, struct ingest_batch *b, double ttl_s)
{
	const struct otlp_batch *ob = b->otlp;
	const struct otlp_point **c = NULL;
	struct otlp_point *out = NULL;
	struct emit e = {b};
	size_t nc = 0, nout = 0;
	int rc = RAMP_ENOMEM;

	for (size_t i = 0; i < ob->n; i++)
		nc += ob->pts[i].cumulative;
	if (nc == 0) /* deltas and gauges only: nothing to read, nothing to copy */
		return otlp_reports(ob, ob->pts, ob->n, add_report, &e);
	if (conn == NULL)
		return RAMP_EINTERNAL;
	if ((c = calloc(nc, sizeof(*c))) == NULL || (out = malloc(ob->n * sizeof(*out))) == NULL)
		goto done;
	nc = 0;
	for (size_t i = 0; i < ob->n; i++) {
		if (ob->pts[i].cumulative)
			c[nc++] = &ob->pts[i];
		else
			out[nout++] = ob->pts[i];
	}
	qsort(c, nc, sizeof(*c), by_key_time);
	if ((rc = advance(conn, c, nc, ttl_s, out, &nout)) != 0)
		goto done;
	rc = otlp_reports(ob, out, nout, add_report, &e);
done:
	free(c);
	free(out);
	return rc;
}

int ingest_otlp_sweep(void *conn, double ttl_s, long cap)
{
	char ttl[32], n[32];

	snprintf(ttl, sizeof(ttl), "%.3f", ttl_s);
	snprintf(n, sizeof(n), "%ld", cap);
	return exec_params(conn, SQL_TTL, 1, (const char *const[]){ttl}, PGRES_COMMAND_OK, NULL) &&
			       exec_params(conn, SQL_CAP, 1, (const char *const[]){n},
					   PGRES_COMMAND_OK, NULL)
		       ? 0
		       : RAMP_EUNAVAIL;
}
