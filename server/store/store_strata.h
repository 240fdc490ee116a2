/*
 * store_strata.h - what stratified stages read (docs/strata.md): the
 * eligible devices with the values of the stratify_by keys, and per
 * stratum how many of them a rollout holds. Same conventions as store.h.
 */
#ifndef RAMP_STORE_STRATA_H
#define RAMP_STORE_STRATA_H

#include "store/db.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct selector;

#define STORE_STRATA_MAX_KEYS 128 /* 4 per stage, 32 stages */

/* Like store_rollout_eligible (no "only"), each device with the values of
 * keys[0..nkeys) ("platform" or a label; NULL: the label is absent). */
int store_strata_eligible(struct db *db, const char *model, const char *version,
			  const struct selector *sel, const struct selector *cohort,
			  const char *const *keys, size_t nkeys,
			  int (*each)(void *ctx, const char *id, const char *const *vals), void *ctx);

/* *out: a JSON array, per stratum of the eligible devices (ordered by its
 * values), {"values": {key: value or null}, "eligible": N, "canary": N},
 * canary counting the ones rollout id holds. The caller frees *out. */
int store_strata_counts(struct db *db, int64_t id, const char *model, const char *version,
			const struct selector *sel, const struct selector *cohort,
			const char *const *keys, size_t nkeys, json_t **out);

#endif
