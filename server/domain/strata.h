/*
 * strata.h - stratified stage membership (docs/strata.md): the devices a
 * stage takes when it, or an earlier stage, has stratify_by. Pure.
 *
 * Stage k takes the first bucket_stage_count(size_k) devices in bucket
 * order (bucket.h), and, for every stage j <= k with stratify_by, the first
 * min_per_stratum_j devices in bucket order of every stratum (one
 * combination of the values of stage j's keys; an absent label is a value
 * of its own). So the choice is deterministic (a function of the rollout
 * id, the ids and their values), and stage k's members include stage
 * k-1's over the same devices (sticky): each part only grows with k.
 */
#ifndef RAMP_STRATA_H
#define RAMP_STRATA_H

#include "domain/policy.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STRATA_MAX_UNION (STRATA_MAX_KEYS * POLICY_MAX_STAGES)

struct strata_device {
	const char *id;
	const char *const *vals; /* one per key given to strata_choose; NULL: label absent */
	uint64_t key;		 /* set by strata_choose: the bucket key */
	bool chosen;		 /* set by strata_choose */
};

/* True when stage k or an earlier one has stratify_by. */
bool strata_wanted(const struct policy *p, int k);

/* The distinct stratify_by keys of stages 0..k, in order of first use, into
 * keys[0..max) (pointers into p); returns how many. */
size_t strata_keys(const struct policy *p, int k, const char **keys, size_t max);

/*
 * Sorts d[0..n) into bucket order for rollout_id and marks stage k's
 * members (d[i].chosen); vals of every device follow keys[0..nkeys), which
 * hold at least strata_keys(p, k). *count: how many are chosen. 0, or
 * RAMP_ENOMEM, or RAMP_EINVAL when a stage's key is not among keys.
 */
int strata_choose(int64_t rollout_id, const struct policy *p, int k, const char *const *keys,
		  size_t nkeys, struct strata_device *d, size_t n, size_t *count);

#endif
