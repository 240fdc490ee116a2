/*
 * strata.c - see strata.h. Strata are found with one open-addressing table
 * per stratified stage, keyed by the FNV-1a hash of the value tuple and
 * compared by the tuple itself, so a hash collision costs a probe, never a
 * wrong stratum: O(n log n) for the sort, O(n) per stratified stage.
 */
#include "domain/strata.h"

#include "common/hash.h"
#include "domain/bucket.h"

#include <stdlib.h>
#include <string.h>

bool strata_wanted(const struct policy *p, int k)
{
	for (int j = 0; j <= k && (size_t)j < p->nstages; j++)
		if (p->stages[j].strata.nkeys > 0)
			return true;
	return false;
}

size_t strata_keys(const struct policy *p, int k, const char **keys, size_t max)
{
	size_t n = 0;

	for (int j = 0; j <= k && (size_t)j < p->nstages; j++) {
		const struct policy_strata *s = &p->stages[j].strata;
		for (size_t i = 0; i < s->nkeys; i++) {
			size_t x = 0;
			while (x < n && strcmp(keys[x], s->keys[i]) != 0)
				x++;
			if (x == n && n < max)
				keys[n++] = s->keys[i];
		}
	}
	return n;
}

static int cmp_device(const void *a, const void *b)
{
	const struct strata_device *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return strcmp(x->id, y->id);
}

/* The positions in keys[] of one stage's keys. */
struct cols {
	size_t n;
	size_t at[STRATA_MAX_KEYS];
};

static uint64_t tuple_hash(const struct strata_device *d, const struct cols *c)
{
	uint64_t h = HASH_FNV1A_BASIS;

	for (size_t i = 0; i < c->n; i++) {
		const char *v = d->vals[c->at[i]];
		/* absent and "" differ; the separator keeps ("ab","") from ("a","b") */
		h = hash_fnv1a(h, v ? "=" : "!", 1);
		if (v)
			h = hash_fnv1a(h, v, strlen(v) + 1);
	}
	return h;
}

static bool tuple_equal(const struct strata_device *a, const struct strata_device *b,
			const struct cols *c)
{
	for (size_t i = 0; i < c->n; i++) {
		const char *x = a->vals[c->at[i]], *y = b->vals[c->at[i]];
		if ((x == NULL) != (y == NULL) || (x && strcmp(x, y) != 0))
			return false;
	}
	return true;
}

struct slot {
	uint32_t rep; /* 1 + index of the stratum's first device; 0: empty */
	uint32_t taken;
};

/* Marks the first min devices of every stratum of c (d is in bucket order). */
static int choose_stage(struct strata_device *d, size_t n, const struct cols *c, uint32_t min)
{
	size_t cap = 16;
	struct slot *t;

	while (cap < 2 * n)
		cap *= 2;
	if ((t = calloc(cap, sizeof(*t))) == NULL)
		return RAMP_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		size_t s = (size_t)tuple_hash(&d[i], c) & (cap - 1);
		while (t[s].rep != 0 && !tuple_equal(&d[t[s].rep - 1], &d[i], c))
			s = (s + 1) & (cap - 1);
		if (t[s].rep == 0)
			t[s].rep = (uint32_t)i + 1;
		if (t[s].taken < min) {
			t[s].taken++;
			d[i].chosen = true;
		}
	}
	free(t);
	return 0;
}

static int stage_cols(const struct policy_strata *s, const char *const *keys, size_t nkeys,
		      struct cols *c)
{
	c->n = s->nkeys;
	for (size_t i = 0; i < s->nkeys; i++) {
		size_t x = 0;
		while (x < nkeys && strcmp(keys[x], s->keys[i]) != 0)
			x++;
		if (x == nkeys)
			return RAMP_EINVAL;
		c->at[i] = x;
	}
	return 0;
}

int strata_choose(int64_t rollout_id, const struct policy *p, int k, const char *const *keys,
		  size_t nkeys, struct strata_device *d, size_t n, size_t *count)
{
	size_t base;
	int rc = 0;

	*count = 0;
	if (k < 0 || (size_t)k >= p->nstages || n > UINT32_MAX - 1)
		return RAMP_EINVAL;
	for (size_t i = 0; i < n; i++) {
		d[i].key = bucket_key(rollout_id, d[i].id);
		d[i].chosen = false;
	}
	qsort(d, n, sizeof(*d), cmp_device);
	base = bucket_stage_count(p->stages[k].size, n);
	for (size_t i = 0; i < base; i++)
		d[i].chosen = true;
	for (int j = 0; j <= k && rc == 0; j++) {
		const struct policy_strata *s = &p->stages[j].strata;
		struct cols c;
		if (s->nkeys == 0)
			continue;
		if ((rc = stage_cols(s, keys, nkeys, &c)) == 0)
			rc = choose_stage(d, n, &c, (uint32_t)s->min_per_stratum);
	}
	for (size_t i = 0; rc == 0 && i < n; i++)
		*count += d[i].chosen;
	return rc;
}
