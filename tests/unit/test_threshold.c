/* test_threshold.c - every threshold form parses to base units and evaluates. */
#include "common/err.h"
#include "domain/threshold.h"
#include "unit.h"

static struct threshold parse_ok(const char *text, enum metric_id m)
{
	struct threshold t;
	struct ramp_err err;
	int rc = threshold_parse(text, m, "t", &t, &err);

	if (rc != 0)
		fprintf(stderr, "  \"%s\": %s\n", text, err.msg);
	CHECK_EQ_INT(rc, 0);
	return t;
}

static void check_form(const char *text, enum metric_id m,
		       enum threshold_op op, enum threshold_kind kind,
		       double value)
{
	struct threshold t = parse_ok(text, m);

	if (t.op != op || t.kind != kind || t.value != value)
		fprintf(stderr, "  \"%s\" -> op %d kind %d value %.17g\n", text,
			t.op, t.kind, t.value);
	CHECK_EQ_INT(t.op, op);
	CHECK_EQ_INT(t.kind, kind);
	CHECK(t.value == value);
}

static void absolute_millis_thresholds_read_ms_and_s(void)
{
	check_form("< 150ms", METRIC_LATENCY_P50, THRESHOLD_LT, THRESHOLD_ABSOLUTE, 150);
	check_form("<150ms", METRIC_LATENCY_P50, THRESHOLD_LT, THRESHOLD_ABSOLUTE, 150);
	check_form("<= 1.5s", METRIC_LATENCY_P95, THRESHOLD_LE, THRESHOLD_ABSOLUTE, 1500);
	check_form("> 200", METRIC_LATENCY_P99, THRESHOLD_GT, THRESHOLD_ABSOLUTE, 200);
	check_form(">= 2 s", METRIC_MODEL_LOAD_TIME_MS, THRESHOLD_GE, THRESHOLD_ABSOLUTE, 2000);
	check_form("< 0.1s", METRIC_LATENCY_P50, THRESHOLD_LT, THRESHOLD_ABSOLUTE, 100);
}

static void absolute_ratio_thresholds_read_percent(void)
{
	check_form("< 0.5%", METRIC_ERROR_RATE, THRESHOLD_LT, THRESHOLD_ABSOLUTE, 0.005);
	check_form("< 0.01", METRIC_ERROR_RATE, THRESHOLD_LT, THRESHOLD_ABSOLUTE, 0.01);
	check_form("<= 2%", METRIC_INSTALL_FAILURE_RATE, THRESHOLD_LE, THRESHOLD_ABSOLUTE, 0.02);
}

static void absolute_plain_thresholds_take_percent_as_is(void)
{
	check_form(">= 50%", METRIC_CPU_PCT, THRESHOLD_GE, THRESHOLD_ABSOLUTE, 50);
	check_form("< 80", METRIC_MEM_PCT, THRESHOLD_LT, THRESHOLD_ABSOLUTE, 80);
	check_form("> -10", METRIC_TEMPERATURE_C, THRESHOLD_GT, THRESHOLD_ABSOLUTE, -10);
	check_form("> 0.7", METRIC_CONFIDENCE_MEAN, THRESHOLD_GT, THRESHOLD_ABSOLUTE, 0.7);
	check_form("  >  512  ", METRIC_DISK_FREE_MB, THRESHOLD_GT, THRESHOLD_ABSOLUTE, 512);
}

static void factor_thresholds_multiply_the_baseline(void)
{
	check_form("< 2x baseline", METRIC_LATENCY_P95, THRESHOLD_LT, THRESHOLD_RATIO_OF_BASELINE, 2);
	check_form("< 1.5x baseline", METRIC_ERROR_RATE, THRESHOLD_LT, THRESHOLD_RATIO_OF_BASELINE, 1.5);
	check_form("<= 1.5 x baseline", METRIC_CPU_PCT, THRESHOLD_LE, THRESHOLD_RATIO_OF_BASELINE, 1.5);
	check_form("> 0.9x baseline", METRIC_REQUESTS_PER_SECOND, THRESHOLD_GT, THRESHOLD_RATIO_OF_BASELINE, 0.9);
}

static void offset_thresholds_add_to_the_baseline_in_base_units(void)
{
	check_form("< baseline + 50ms", METRIC_LATENCY_P50, THRESHOLD_LT, THRESHOLD_BASELINE_PLUS, 50);
	check_form("< baseline + 0.1s", METRIC_LATENCY_P50, THRESHOLD_LT, THRESHOLD_BASELINE_PLUS, 100);
	check_form("<= baseline+0.5%", METRIC_ERROR_RATE, THRESHOLD_LE, THRESHOLD_BASELINE_PLUS, 0.005);
	check_form("> baseline - 5", METRIC_REQUESTS_PER_SECOND, THRESHOLD_GT, THRESHOLD_BASELINE_PLUS, -5);
	check_form("< baseline + 3%", METRIC_CPU_PCT, THRESHOLD_LT, THRESHOLD_BASELINE_PLUS, 3);
}

static void check_bad(const char *text, enum metric_id m, const char *msg)
{
	struct threshold t;
	struct ramp_err err;

	ramp_err_clear(&err);
	CHECK_EQ_INT(threshold_parse(text, m, "stages[0].metrics[1].threshold",
				     &t, &err),
		     RAMP_EINVAL);
	CHECK_EQ_INT(err.code, RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "stages[0].metrics[1].threshold");
	CHECK_EQ_STR(err.msg, msg);
}

static void malformed_thresholds_say_what_is_wrong(void)
{
	check_bad("150ms", METRIC_LATENCY_P50,
		  "invalid threshold \"150ms\": must start with <, >, <= or >=");
	check_bad("= 5", METRIC_CPU_PCT,
		  "invalid threshold \"= 5\": must start with <, >, <= or >=");
	check_bad("<", METRIC_CPU_PCT, "invalid threshold \"<\": expected a number");
	check_bad("<< 5", METRIC_CPU_PCT, "invalid threshold \"<< 5\": expected a number");
	check_bad("< fast", METRIC_CPU_PCT, "invalid threshold \"< fast\": expected a number");
	check_bad("< 150xs", METRIC_LATENCY_P50,
		  "invalid threshold \"< 150xs\": expected a factor like 2x baseline");
	check_bad("< 150 sec", METRIC_LATENCY_P50,
		  "invalid threshold \"< 150 sec\": unknown unit \"sec\"");
	check_bad("< 150ms fast", METRIC_LATENCY_P50,
		  "invalid threshold \"< 150ms fast\": unexpected text after the number");
	check_bad("< 2x", METRIC_LATENCY_P95,
		  "invalid threshold \"< 2x\": expected a factor like 2x baseline");
	check_bad("< 0x baseline", METRIC_LATENCY_P95,
		  "invalid threshold \"< 0x baseline\": factor must be a positive number");
	check_bad("< -2x baseline", METRIC_LATENCY_P95,
		  "invalid threshold \"< -2x baseline\": factor must be a positive number");
	check_bad("< baseline", METRIC_LATENCY_P95,
		  "invalid threshold \"< baseline\": expected + or - after baseline");
	check_bad("< baseline * 2", METRIC_LATENCY_P95,
		  "invalid threshold \"< baseline * 2\": expected + or - after baseline");
	check_bad("< baseline + 5ms extra", METRIC_LATENCY_P95,
		  "invalid threshold \"< baseline + 5ms extra\": unexpected text after the offset");
	check_bad("< baselines + 5", METRIC_LATENCY_P95,
		  "invalid threshold \"< baselines + 5\": expected a number");
	check_bad("< 1e999", METRIC_CPU_PCT,
		  "invalid threshold \"< 1e999\": number is out of range");
}

static void units_that_do_not_fit_the_metric_are_rejected(void)
{
	check_bad("< 150ms", METRIC_ERROR_RATE,
		  "invalid threshold \"< 150ms\": unit \"ms\" does not apply to error_rate");
	check_bad("< 5%", METRIC_LATENCY_P50,
		  "invalid threshold \"< 5%\": unit \"%\" does not apply to inference_latency_p50");
	check_bad("< 1s", METRIC_CPU_PCT,
		  "invalid threshold \"< 1s\": unit \"s\" does not apply to cpu_pct");
	check_bad("< baseline + 2ms", METRIC_ERROR_RATE,
		  "invalid threshold \"< baseline + 2ms\": unit \"ms\" does not apply to error_rate");
}

static void eval_compares_each_operator_at_the_boundary(void)
{
	struct threshold lt = {THRESHOLD_LT, THRESHOLD_ABSOLUTE, 150};
	struct threshold le = {THRESHOLD_LE, THRESHOLD_ABSOLUTE, 150};
	struct threshold gt = {THRESHOLD_GT, THRESHOLD_ABSOLUTE, 150};
	struct threshold ge = {THRESHOLD_GE, THRESHOLD_ABSOLUTE, 150};

	CHECK_EQ_INT(threshold_eval(&lt, 149.9, 0, false), 1);
	CHECK_EQ_INT(threshold_eval(&lt, 150, 0, false), 0);
	CHECK_EQ_INT(threshold_eval(&le, 150, 0, false), 1);
	CHECK_EQ_INT(threshold_eval(&le, 150.1, 0, false), 0);
	CHECK_EQ_INT(threshold_eval(&gt, 150, 0, false), 0);
	CHECK_EQ_INT(threshold_eval(&gt, 151, 0, false), 1);
	CHECK_EQ_INT(threshold_eval(&ge, 150, 0, false), 1);
	CHECK_EQ_INT(threshold_eval(&ge, 149, 0, false), 0);
}

static void eval_relative_thresholds_use_the_baseline(void)
{
	struct threshold twice = {THRESHOLD_LT, THRESHOLD_RATIO_OF_BASELINE, 2};
	struct threshold plus = {THRESHOLD_LE, THRESHOLD_BASELINE_PLUS, 50};
	struct threshold minus = {THRESHOLD_GT, THRESHOLD_BASELINE_PLUS, -5};

	CHECK_EQ_INT(threshold_eval(&twice, 199, 100, true), 1);
	CHECK_EQ_INT(threshold_eval(&twice, 200, 100, true), 0);
	CHECK_EQ_INT(threshold_eval(&plus, 150, 100, true), 1);
	CHECK_EQ_INT(threshold_eval(&plus, 150.5, 100, true), 0);
	CHECK_EQ_INT(threshold_eval(&minus, 95.5, 100, true), 1);
	CHECK_EQ_INT(threshold_eval(&minus, 95, 100, true), 0);
}

static void eval_is_inconclusive_without_baseline_or_value(void)
{
	struct threshold twice = {THRESHOLD_LT, THRESHOLD_RATIO_OF_BASELINE, 2};
	struct threshold plus = {THRESHOLD_LT, THRESHOLD_BASELINE_PLUS, 5};
	struct threshold abs = {THRESHOLD_LT, THRESHOLD_ABSOLUTE, 5};

	CHECK_EQ_INT(threshold_eval(&twice, 1, 100, false), -1);
	CHECK_EQ_INT(threshold_eval(&plus, 1, 100, false), -1);
	CHECK_EQ_INT(threshold_eval(&twice, 1, NAN, true), -1);
	CHECK_EQ_INT(threshold_eval(&abs, NAN, 0, false), -1);
	CHECK_EQ_INT(threshold_eval(&twice, NAN, 1, true), -1);
	/* an absolute threshold needs no baseline */
	CHECK_EQ_INT(threshold_eval(&abs, 1, 0, false), 1);
}

static void op_names_match_the_grammar(void)
{
	CHECK_EQ_STR(threshold_op_name(THRESHOLD_LT), "<");
	CHECK_EQ_STR(threshold_op_name(THRESHOLD_GT), ">");
	CHECK_EQ_STR(threshold_op_name(THRESHOLD_LE), "<=");
	CHECK_EQ_STR(threshold_op_name(THRESHOLD_GE), ">=");
}

static void threshold_ratio_of_zero_baseline_passes_an_equal_canary(void)
{
	struct threshold t = {THRESHOLD_LT, THRESHOLD_RATIO_OF_BASELINE, 2.0};

	/* 0 errors against 0 errors: not worse */
	CHECK_EQ_INT(threshold_eval(&t, 0.0, 0.0, true), 1);
	/* any error against a perfect baseline is worse */
	CHECK_EQ_INT(threshold_eval(&t, 0.001, 0.0, true), 0);
	/* still inconclusive without a baseline */
	CHECK_EQ_INT(threshold_eval(&t, 0.0, 0.0, false), -1);
}

static const struct unit_case cases[] = {
	UNIT(threshold_ratio_of_zero_baseline_passes_an_equal_canary),
	UNIT(absolute_millis_thresholds_read_ms_and_s),
	UNIT(absolute_ratio_thresholds_read_percent),
	UNIT(absolute_plain_thresholds_take_percent_as_is),
	UNIT(factor_thresholds_multiply_the_baseline),
	UNIT(offset_thresholds_add_to_the_baseline_in_base_units),
	UNIT(malformed_thresholds_say_what_is_wrong),
	UNIT(units_that_do_not_fit_the_metric_are_rejected),
	UNIT(eval_compares_each_operator_at_the_boundary),
	UNIT(eval_relative_thresholds_use_the_baseline),
	UNIT(eval_is_inconclusive_without_baseline_or_value),
	UNIT(op_names_match_the_grammar),
	{0},
};
UNIT_MAIN(cases)
