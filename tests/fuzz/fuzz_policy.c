/*
 * fuzz_policy.c - libFuzzer target for the policy parser: arbitrary bytes as
 * YAML and as JSON must parse or fail cleanly; a policy that parses must
 * survive policy_to_json -> dump -> policy_parse unchanged, and each
 * stage's stratified choice over a small fixed fleet keeps its promises.
 */
#include "common/err.h"
#include "domain/policy.h"
#include "domain/strata.h"

#include "domain/bucket.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_error(int rc, const struct ramp_err *err)
{
	if (rc != RAMP_EINVAL && rc != RAMP_EMALFORMED && rc != RAMP_ENOMEM)
		abort();
	if (err->code != rc || err->msg[0] == '\0')
		abort(); /* every failure says why */
	if (memchr(err->field, '\0', sizeof(err->field)) == NULL ||
	    memchr(err->msg, '\0', sizeof(err->msg)) == NULL)
		abort();
}

static void round_trip(const struct policy *p, struct policy *again)
{
	struct ramp_err err;
	json_t *j = policy_to_json(p);
	char *text;

	if (j == NULL)
		abort();
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (text == NULL)
		abort();
	if (policy_parse(text, strlen(text), POLICY_JSON, again, &err) != 0)
		abort();
	if (!policy_equal(p, again))
		abort();
	free(text);
}

/* stratify_by within its limits, and every stage's choice over 8 devices of
 * 2 platforms (no site label on half) takes its size and its strata. */
static void check_strata(const struct policy *p)
{
	static const char *const plat[] = {"a", "b"};
	const char *keys[STRATA_MAX_UNION], *vals[8][STRATA_MAX_UNION];
	struct strata_device d[8];
	char ids[8][8];
	size_t nkeys, cnt;

	for (size_t k = 0; k < p->nstages; k++) {
		const struct policy_strata *s = &p->stages[k].strata;
		if (s->nkeys > STRATA_MAX_KEYS ||
		    (s->nkeys > 0) != (s->min_per_stratum >= 1 && s->min_per_stratum <= 1000))
			abort();
		nkeys = strata_keys(p, (int)k, keys, STRATA_MAX_UNION);
		for (size_t i = 0; i < 8; i++) {
			snprintf(ids[i], sizeof(ids[i]), "d%zu", i);
			for (size_t j = 0; j < nkeys; j++)
				vals[i][j] = strcmp(keys[j], "platform") == 0 ? plat[i % 2]
					     : i < 4			    ? NULL
									    : "x";
			d[i].id = ids[i];
			d[i].vals = vals[i];
		}
		if (strata_choose(7, p, (int)k, keys, nkeys, d, 8, &cnt) != 0 ||
		    cnt < bucket_stage_count(p->stages[k].size, 8) || cnt > 8 ||
		    (strata_wanted(p, (int)k) && cnt < 2))
			abort();
	}
}

static void one(const uint8_t *data, size_t size, enum policy_format fmt,
		struct policy *p, struct policy *again)
{
	struct ramp_err err;
	int rc = policy_parse((const char *)data, size, fmt, p, &err);

	if (rc != 0) {
		check_error(rc, &err);
		return;
	}
	if (p->nstages < 1 || p->nstages > POLICY_MAX_STAGES ||
	    p->stages[p->nstages - 1].size != 1.0)
		abort();
	check_strata(p);
	round_trip(p, again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct policy p, again; /* ~100 KiB each: off the stack */

	one(data, size, POLICY_YAML, &p, &again);
	one(data, size, POLICY_JSON, &p, &again);
	return 0;
}
