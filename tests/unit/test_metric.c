/* test_metric.c - the metric name table round-trips. */
#include "domain/metric.h"
#include "common/err.h"
#include "unit.h"

static void metric_names_round_trip(void)
{
	for (int i = 0; i < METRIC_COUNT; i++)
		CHECK_EQ_INT(metric_from_name(metric_name(i)), i);
	CHECK_EQ_INT(metric_from_name("latency"), -1);
	CHECK_EQ_INT(metric_from_name(NULL), -1);
}

static void metric_kinds_match_units(void)
{
	CHECK_EQ_INT(metric_kind_of(METRIC_ERROR_RATE), METRIC_KIND_RATIO);
	CHECK_EQ_INT(metric_kind_of(METRIC_LATENCY_P95), METRIC_KIND_MILLIS);
	CHECK_EQ_INT(metric_kind_of(METRIC_CPU_PCT), METRIC_KIND_PLAIN);
}

static void err_set_fills_field_and_message(void)
{
	struct ramp_err e;
	ramp_err_clear(&e);
	CHECK_EQ_INT(ramp_err_set(&e, RAMP_EINVAL, "stages[1].size", "must be %s", "bigger"), RAMP_EINVAL);
	CHECK_EQ_STR(e.field, "stages[1].size");
	CHECK_EQ_STR(e.msg, "must be bigger");
	CHECK_EQ_STR(ramp_strerror(RAMP_ENOTFOUND), "not found");
}

static const struct unit_case cases[] = {
	UNIT(metric_names_round_trip),
	UNIT(metric_kinds_match_units),
	UNIT(err_set_fills_field_and_message),
	{0},
};
UNIT_MAIN(cases)
