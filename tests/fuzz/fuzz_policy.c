/*
 * fuzz_policy.c - libFuzzer target for the policy parser: arbitrary bytes as
 * YAML and as JSON must parse or fail cleanly; a policy that parses must
 * survive policy_to_json -> dump -> policy_parse unchanged.
 */
#include "common/err.h"
#include "domain/policy.h"

#include <stdint.h>
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
