/*
 * store_delta_gc.h - the deltas' housekeeping in the database
 * (schema/024_deltas_windows.sql, docs/deltas.md): pairs the builder gave up on,
 * with a retry time that doubles, and deltas nothing needs any more,
 * marked, then deleted with their database object after the retention.
 * Same conventions as store.h.
 */
#ifndef RAMP_STORE_DELTA_GC_H
#define RAMP_STORE_DELTA_GC_H

#include "store/db.h"

#include <stdbool.h>
#include <stdint.h>

/* Records that from -> to failed for reason: not wanted again before
 * retry_s × 2^(earlier failures) seconds from now (at most a week). */
int store_delta_failed(struct db *db, const char *from, const char *to, const char *reason,
		       int64_t retry_s);

/* One pass: marks deltas whose from or to file belongs to no stable
 * version nor to a version or baseline of an answering rollout (and
 * unmarks those needed again), then deletes those marked retention_s ago
 * or more, each with its database object when no other delta or manifest
 * names that digest; fn(ctx, digest, size, orphan) for each deleted row
 * after the commit (orphan: its local file may go too). *deleted counts
 * them. A deletion sends the catalog notice. */
int store_delta_gc(struct db *db, int64_t retention_s,
		   void (*fn)(void *ctx, const char *digest, int64_t size, bool orphan), void *ctx,
		   int *deleted);

#endif
