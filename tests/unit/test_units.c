/* test_units.c - durations, sizes and scaled decimals parse exactly. */
#include "common/err.h"
#include "domain/units.h"
#include "unit.h"

#include <stdint.h>

static int64_t dur(const char *s)
{
	int64_t v = -12345;

	CHECK_EQ_INT(units_parse_duration(s, &v), 0);
	return v;
}

static void duration_accepts_each_unit(void)
{
	CHECK_EQ_INT(dur("90s"), 90);
	CHECK_EQ_INT(dur("30m"), 1800);
	CHECK_EQ_INT(dur("1h"), 3600);
	CHECK_EQ_INT(dur("24h"), 86400);
	CHECK_EQ_INT(dur("1d"), 86400);
	CHECK_EQ_INT(dur("0s"), 0);
}

static void duration_accepts_bare_integer_seconds(void)
{
	CHECK_EQ_INT(dur("600"), 600);
	CHECK_EQ_INT(dur("0"), 0);
	CHECK_EQ_INT(dur("007"), 7);
}

static void duration_accepts_compound_in_descending_order(void)
{
	CHECK_EQ_INT(dur("1h30m"), 5400);
	CHECK_EQ_INT(dur("1d2h3m4s"), 86400 + 7200 + 180 + 4);
}

static void duration_rejects_bad_text(void)
{
	static const char *const bad[] = {
		"",    "-5",   "-5m",  "+5m", "5 m", " 5m", "5m ", "5x",
		"1w",  "2w",   "1.5h", "m",   "1h30", "30m1h", "1m1m", "150ms",
		"5M",  "0x10", "1e3",  "5mm", "h1",
	};
	int64_t v = 77;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = units_parse_duration(bad[i], &v);

		if (rc != RAMP_EINVAL)
			fprintf(stderr, "  accepted \"%s\"\n", bad[i]);
		CHECK_EQ_INT(rc, RAMP_EINVAL);
	}
	CHECK_EQ_INT(v, 77); /* untouched on error */
	CHECK_EQ_INT(units_parse_duration(NULL, &v), RAMP_EINVAL);
}

static void duration_rejects_overflow(void)
{
	int64_t v;

	CHECK_EQ_INT(dur("9223372036854775807"), INT64_MAX);
	CHECK_EQ_INT(units_parse_duration("9223372036854775808", &v), RAMP_EINVAL);
	/* 106751991167300 days is 9223372036854720000 s; one more overflows */
	CHECK_EQ_INT(dur("106751991167300d"), INT64_C(9223372036854720000));
	CHECK_EQ_INT(units_parse_duration("106751991167301d", &v), RAMP_EINVAL);
	CHECK_EQ_INT(units_parse_duration("106751991167300d1h", &v), 0);
	CHECK_EQ_INT(units_parse_duration("106751991167300d16h", &v), RAMP_EINVAL);
}

static void format_duration_uses_largest_exact_unit(void)
{
	char buf[32];

	CHECK_EQ_INT(units_format_duration(1800, buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "30m");
	units_format_duration(90, buf, sizeof(buf));
	CHECK_EQ_STR(buf, "90s");
	units_format_duration(3600, buf, sizeof(buf));
	CHECK_EQ_STR(buf, "1h");
	units_format_duration(86400, buf, sizeof(buf));
	CHECK_EQ_STR(buf, "1d");
	units_format_duration(5400, buf, sizeof(buf));
	CHECK_EQ_STR(buf, "90m");
	units_format_duration(90000, buf, sizeof(buf));
	CHECK_EQ_STR(buf, "25h");
	units_format_duration(0, buf, sizeof(buf));
	CHECK_EQ_STR(buf, "0s");
	units_format_duration(61, buf, sizeof(buf));
	CHECK_EQ_STR(buf, "61s");
}

static void format_duration_round_trips(void)
{
	static const int64_t vals[] = {1, 59, 60, 61, 3599, 3600, 86399, 86400,
				       172800, 31536000, INT64_MAX};
	char buf[32];
	int64_t back;

	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		CHECK_EQ_INT(units_format_duration(vals[i], buf, sizeof(buf)), 0);
		CHECK_EQ_INT(units_parse_duration(buf, &back), 0);
		CHECK_EQ_INT(back, vals[i]);
	}
}

static void format_duration_rejects_negative_and_small_buffers(void)
{
	char buf[5];

	CHECK_EQ_INT(units_format_duration(-1, buf, sizeof(buf)), RAMP_EINVAL);
	CHECK_EQ_INT(units_format_duration(1, NULL, 8), RAMP_EINVAL);
	CHECK_EQ_INT(units_format_duration(1, buf, 0), RAMP_EINVAL);
	CHECK_EQ_INT(units_format_duration(999, buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "999s"); /* 5 bytes with the NUL: fits exactly */
	CHECK_EQ_INT(units_format_duration(1000, buf, sizeof(buf)), RAMP_ETOOBIG);
}

static void size_parses_fraction_and_percent(void)
{
	double v;

	CHECK_EQ_INT(units_parse_size("0.25", &v), 0);
	CHECK(v == 0.25);
	CHECK_EQ_INT(units_parse_size("1%", &v), 0);
	CHECK(v == 0.01); /* exactly the double nearest 0.01 */
	CHECK_EQ_INT(units_parse_size("7%", &v), 0);
	CHECK(v == 0.07);
	CHECK_EQ_INT(units_parse_size("0.5%", &v), 0);
	CHECK(v == 0.005);
	CHECK_EQ_INT(units_parse_size("100%", &v), 0);
	CHECK(v == 1.0);
	CHECK_EQ_INT(units_parse_size("1", &v), 0);
	CHECK(v == 1.0);
	CHECK_EQ_INT(units_parse_size(".5", &v), 0);
	CHECK(v == 0.5);
	CHECK_EQ_INT(units_parse_size("1e-2", &v), 0);
	CHECK(v == 0.01);
	CHECK_EQ_INT(units_parse_size("150%", &v), 0); /* range is the caller's */
	CHECK(v == 1.5);
}

static void size_rejects_bad_text(void)
{
	static const char *const bad[] = {"",	  "-0.5", "-1%",  "+0.5", "%",
					  "1%%",  "1 %",  " 1%", "0.5x", "abc",
					  "inf",  "nan",  "0x1p-2", "1e999", ".",
					  "1..2", "1,5"};
	double v = 42;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = units_parse_size(bad[i], &v);

		if (rc != RAMP_EINVAL)
			fprintf(stderr, "  accepted \"%s\"\n", bad[i]);
		CHECK_EQ_INT(rc, RAMP_EINVAL);
	}
	CHECK(v == 42);
	CHECK_EQ_INT(units_parse_size(NULL, &v), RAMP_EINVAL);
}

static void scan_number_stops_at_the_first_non_number(void)
{
	CHECK_EQ_INT(units_scan_number("150ms"), 3);
	CHECK_EQ_INT(units_scan_number("1.5s"), 3);
	CHECK_EQ_INT(units_scan_number("2x baseline"), 1);
	CHECK_EQ_INT(units_scan_number("1e5"), 3);
	CHECK_EQ_INT(units_scan_number("1e-5x"), 4);
	CHECK_EQ_INT(units_scan_number("1em"), 1);
	CHECK_EQ_INT(units_scan_number("3."), 2);
	CHECK_EQ_INT(units_scan_number("-3"), 0);
	CHECK_EQ_INT(units_scan_number("."), 0);
	CHECK_EQ_INT(units_scan_number(""), 0);
}

static void decimal_scales_by_powers_of_ten_exactly(void)
{
	double v;

	CHECK_EQ_INT(units_parse_decimal("1.5", 3, 3, &v), 0);
	CHECK(v == 1500);
	CHECK_EQ_INT(units_parse_decimal("0.1", 3, 3, &v), 0);
	CHECK(v == 100);
	CHECK_EQ_INT(units_parse_decimal("0.5", 3, -2, &v), 0);
	CHECK(v == 0.005);
	CHECK_EQ_INT(units_parse_decimal("5e-1", 4, -2, &v), 0);
	CHECK(v == 0.005);
	CHECK_EQ_INT(units_parse_decimal("150ms", 3, 0, &v), 0);
	CHECK(v == 150);
	CHECK_EQ_INT(units_parse_decimal("150ms", 2, 0, &v), RAMP_EINVAL);
	CHECK_EQ_INT(units_parse_decimal("1e308", 5, 3, &v), RAMP_EINVAL);
}

static const struct unit_case cases[] = {
	UNIT(duration_accepts_each_unit),
	UNIT(duration_accepts_bare_integer_seconds),
	UNIT(duration_accepts_compound_in_descending_order),
	UNIT(duration_rejects_bad_text),
	UNIT(duration_rejects_overflow),
	UNIT(format_duration_uses_largest_exact_unit),
	UNIT(format_duration_round_trips),
	UNIT(format_duration_rejects_negative_and_small_buffers),
	UNIT(size_parses_fraction_and_percent),
	UNIT(size_rejects_bad_text),
	UNIT(scan_number_stops_at_the_first_non_number),
	UNIT(decimal_scales_by_powers_of_ten_exactly),
	{0},
};
UNIT_MAIN(cases)
