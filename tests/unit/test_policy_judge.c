/*
 * test_policy_judge.c - the metric `judge` block (domain/policy_judge.c)
 * through the policy parser: defaults, round trip through policy_to_json,
 * and every refusal naming its field.
 */
#include "unit.h"

#include "domain/policy.h"

static struct policy pol, pol2;

static int parse(const char *yaml, struct ramp_err *err)
{
	memset(err, 0, sizeof(*err));
	return policy_parse(yaml, strlen(yaml), POLICY_YAML, &pol, err);
}

#define HEAD                                                                   \
	"stages:\n"                                                            \
	"  - name: canary\n"                                                   \
	"    size: 0.05\n"                                                     \
	"    validation_window: 10m\n"                                         \
	"    metrics:\n"

static void judge_block_parses_with_defaults(void)
{
	struct ramp_err err;

	CHECK_EQ_INT(parse(HEAD "      - {name: error_rate, judge: sequential}\n"
				"      - {name: inference_latency_p95, judge: sequential, alpha: 0.01,"
				" min_effect: 0.3}\n"
				"      - {name: confidence_shift, judge: sequential, min_effect: 0.02}\n"
				"      - {name: error_rate, threshold: < 1%}\n"
				"      - {name: cpu_pct, threshold: < 90, judge: threshold}\n"
				"  - {name: full, size: 1.0, validation_window: 10m}\n",
		     &err),
		     0);
	CHECK(pol.stages[0].metrics[0].judge.sequential);
	CHECK_NEAR(pol.stages[0].metrics[0].judge.alpha, 0.05, 0);
	CHECK_NEAR(pol.stages[0].metrics[0].judge.min_effect, 0.5, 0);
	CHECK_EQ_STR(pol.stages[0].metrics[0].text, "");
	CHECK_NEAR(pol.stages[0].metrics[1].judge.alpha, 0.01, 0);
	CHECK_NEAR(pol.stages[0].metrics[1].judge.min_effect, 0.3, 0);
	CHECK_NEAR(pol.stages[0].metrics[2].judge.min_effect, 0.02, 0);
	CHECK(!pol.stages[0].metrics[3].judge.sequential);
	CHECK(!pol.stages[0].metrics[4].judge.sequential);
	/* inherited by the next stage */
	CHECK(pol.stages[1].metrics[0].judge.sequential);
}

static void judge_block_round_trips(void)
{
	struct ramp_err err;
	json_t *j;
	char *text;

	CHECK_EQ_INT(parse(HEAD "      - {name: error_rate, judge: sequential, alpha: 0.02}\n"
				"      - {name: inference_latency_p50, threshold: < 2x baseline}\n"
				"  - {name: full, size: 1.0, validation_window: 10m}\n",
		     &err),
		     0);
	j = policy_to_json(&pol);
	CHECK(j != NULL);
	text = json_dumps(j, JSON_COMPACT);
	CHECK(strstr(text, "\"judge\":\"sequential\"") != NULL);
	CHECK(strstr(text, "\"threshold\":\"\"") == NULL);
	CHECK_EQ_INT(policy_parse(text, strlen(text), POLICY_JSON, &pol2, &err), 0);
	CHECK(policy_equal(&pol, &pol2));
	pol2.stages[0].metrics[0].judge.alpha = 0.03;
	CHECK(!policy_equal(&pol, &pol2));
	free(text);
	json_decref(j);
}

/* rollback.per_variant: off by default and absent from the canonical JSON
 * then (stored policies keep their text), on when asked, round trips,
 * compares, and a non-boolean is refused naming the field */
static void rollback_per_variant_parses_and_round_trips(void)
{
	const char *body = HEAD "      - {name: error_rate, judge: sequential}\n"
				"  - {name: full, size: 1.0, validation_window: 10m}\n";
	char yaml[1024];
	struct ramp_err err;
	json_t *j;
	char *text;

	CHECK_EQ_INT(parse(body, &err), 0);
	CHECK(!pol.rollback_per_variant);
	j = policy_to_json(&pol);
	text = json_dumps(j, JSON_COMPACT);
	CHECK(strstr(text, "per_variant") == NULL);
	free(text);
	json_decref(j);
	snprintf(yaml, sizeof(yaml), "%srollback: {automatic: true, per_variant: true}\n", body);
	CHECK_EQ_INT(parse(yaml, &err), 0);
	CHECK(pol.rollback_per_variant);
	j = policy_to_json(&pol);
	text = json_dumps(j, JSON_COMPACT);
	CHECK(strstr(text, "\"per_variant\":true") != NULL);
	CHECK_EQ_INT(policy_parse(text, strlen(text), POLICY_JSON, &pol2, &err), 0);
	CHECK(policy_equal(&pol, &pol2));
	pol2.rollback_per_variant = false;
	CHECK(!policy_equal(&pol, &pol2));
	free(text);
	json_decref(j);
	snprintf(yaml, sizeof(yaml), "%srollback: {per_variant: sometimes}\n", body);
	CHECK_EQ_INT(parse(yaml, &err), RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "rollback.per_variant");
	CHECK_EQ_INT(pol.nstages, 0);
}

static void refused(const char *metrics, const char *field)
{
	char yaml[1024];
	struct ramp_err err;

	snprintf(yaml, sizeof(yaml), HEAD "%s  - {name: full, size: 1.0, validation_window: 1m}\n",
		 metrics);
	CHECK_EQ_INT(parse(yaml, &err), RAMP_EINVAL);
	CHECK_EQ_STR(err.field, field);
	CHECK_EQ_INT(pol.nstages, 0); /* nothing half-parsed is kept */
}

static void judge_block_refuses_bad_input(void)
{
	refused("      - {name: error_rate, judge: sequential, threshold: < 1%}\n",
		"stages[0].metrics[0].threshold");
	refused("      - {name: error_rate, judge: bayesian}\n", "stages[0].metrics[0].judge");
	refused("      - {name: error_rate, judge: 1}\n", "stages[0].metrics[0].judge");
	refused("      - {name: cpu_pct, judge: sequential}\n", "stages[0].metrics[0].judge");
	refused("      - {name: error_rate, judge: sequential, alpha: 0.9}\n",
		"stages[0].metrics[0].alpha");
	refused("      - {name: error_rate, judge: sequential, alpha: \"5%\"}\n",
		"stages[0].metrics[0].alpha");
	refused("      - {name: error_rate, judge: sequential, min_effect: 0}\n",
		"stages[0].metrics[0].min_effect");
	refused("      - {name: error_rate, judge: sequential, min_effect: -1}\n",
		"stages[0].metrics[0].min_effect");
	refused("      - {name: error_rate, threshold: < 1%, alpha: 0.05}\n",
		"stages[0].metrics[0].alpha");
	refused("      - {name: error_rate, threshold: < 1%, min_effect: 0.5}\n",
		"stages[0].metrics[0].min_effect");
	refused("      - {name: error_rate, judge: sequential, scope: any_device}\n",
		"stages[0].metrics[0].scope");
	refused("      - {name: error_rate}\n", "stages[0].metrics[0].threshold");
	refused("      - {name: error_rate, judge: sequential, seed: 4}\n",
		"stages[0].metrics[0].seed");
}

static const struct unit_case cases[] = {
	UNIT(judge_block_parses_with_defaults),
	UNIT(judge_block_round_trips),
	UNIT(rollback_per_variant_parses_and_round_trips),
	UNIT(judge_block_refuses_bad_input),
	{0},
};

UNIT_MAIN(cases)
