/*
 * store.h - everything rampd keeps in PostgreSQL. The only module that
 * speaks SQL. Reads answer jansson values built by the database
 * (json_build_object), writes run in one transaction together with their
 * audit entry, so an action and its record are never apart.
 *
 * Every function returns 0 or a negative RAMP_E* code: RAMP_EUNAVAIL when
 * the database cannot be reached, RAMP_ENOTFOUND, RAMP_ECONFLICT.
 * json_t values returned through out-parameters belong to the caller.
 */
#ifndef RAMP_STORE_H
#define RAMP_STORE_H

#include "common/arena.h"
#include "common/err.h"
#include "store/db.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct selector;

/* A page of a list: items (array) and the cursor of the next page or NULL. */
struct page {
	json_t *items;
	char *next; /* malloc'd, or NULL */
};
void page_free(struct page *p);

/* --- helpers shared by the store_*.c files --- */
/* Runs sql whose first column is JSON text, appending each row to *arr (created). */
int store_json_rows(struct dbconn *c, const char *sql, int n, const char *const *p, json_t **arr);
/* Same, for exactly one row; RAMP_ENOTFOUND when there is none. */
int store_json_one(struct dbconn *c, const char *sql, int n, const char *const *p, json_t **out);
/* Trims a limit+1 fetch in out->items to limit and sets out->next from key of the last item. */
void store_paginate(struct page *out, int limit, const char *key);
/* Appends an audit entry inside the caller's transaction. */
int store_audit(struct dbconn *c, const char *actor, const char *action,
		const char *target, json_t *detail /* borrowed, may be NULL */);
/* Builds " AND (...)" SQL for sel over devices d, appending values to params
 * (numbered from *np+1). Strings live in the arena. */
char *store_selector_sql(const struct selector *sel, struct arena *a,
			 const char **params, int *np, int maxp);

/* --- tokens --- */
int store_token_lookup(struct db *db, const unsigned char hash[32], struct arena *a,
		       char *role, size_t rolelen, const char **name, const char **device_id);
int store_token_bootstrap(struct db *db, const unsigned char hash[32]);
int store_token_create(struct db *db, const char *actor, const char *name,
		       const char *role, const unsigned char hash[32], int64_t expires_in,
		       json_t **out);
int store_token_list(struct db *db, int limit, const char *after, struct page *out);
int store_token_delete(struct db *db, const char *actor, const char *name);

/* --- devices --- */
/* Registers devices (array of {id, platform, labels, token_hash_hex}) all or
 * nothing; on a duplicate, RAMP_ECONFLICT with the id in err. */
int store_devices_create(struct db *db, const char *actor, json_t *devices,
			 struct ramp_err *err);
int store_device_get(struct db *db, const char *id, json_t **out);
int store_devices_list(struct db *db, const struct selector *sel, int limit,
		       const char *after, struct page *out);
int store_devices_count(struct db *db, const struct selector *sel, int64_t *n);
/* Applies {labels?, platform?, pins?} (already validated). */
int store_device_patch(struct db *db, const char *actor, const char *id, json_t *patch,
		       json_t **out);
int store_device_delete(struct db *db, const char *actor, const char *id);

/* --- cohorts --- */
int store_cohort_put(struct db *db, const char *actor, const char *name,
		     const char *selector, bool *created, json_t **out);
int store_cohort_get(struct db *db, const char *name, json_t **out);
int store_cohort_list(struct db *db, int limit, const char *after, struct page *out);
int store_cohort_delete(struct db *db, const char *actor, const char *name);

/* --- audit --- */
int store_audit_list(struct db *db, int64_t after, int limit, struct page *out);
/* *ok false with *broken_at the first bad seq when the chain does not verify. */
int store_audit_verify(struct db *db, bool *ok, int64_t *entries, int64_t *broken_at,
		       char *why, size_t whylen);

/* --- telemetry (store_telemetry.c; the writer is store/ingest.h) --- */
struct telemetry_report;
/* Called per row by store_telemetry_scan; a non-zero return stops the scan. */
typedef int (*telemetry_row_fn)(void *ctx, const struct telemetry_report *r);
/* Streams the reports of model whose version is one of versions (every
 * version when nversions is 0) with from_ts <= ts <= to_ts (unix seconds),
 * in no particular order, through a cursor so memory stays flat. Absent
 * gauges are NaN, histograms come back as stored. Holds one pool
 * connection (and a read-only transaction) until it returns. Returns 0, a
 * store error, or the callback's non-zero return. r is only valid during
 * the call. */
int store_telemetry_scan(struct db *db, const char *model, const char *const *versions,
			 int nversions, double from_ts, double to_ts, telemetry_row_fn fn,
			 void *ctx);
/* What one housekeeping pass did. */
struct telemetry_maint {
	int created, dropped; /* daily partitions */
	int64_t deleted;      /* rows expired from the default partition */
};
/* Creates daily partitions ahead, drops the ones wholly older than
 * retention_s and deletes older rows from the default partition, under a
 * short lock_timeout (a busy table fails the pass; retry later). out may be
 * NULL. */
int store_telemetry_maintain(struct db *db, int64_t retention_s, struct telemetry_maint *out);
/* Of the newline-separated device ids, those not registered, as a new JSON
 * array of strings in *missing (caller decrefs). One query for the lot. */
int store_devices_missing(struct db *db, const char *ids_nl, json_t **missing);

#endif
