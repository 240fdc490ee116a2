/* test_byterange.c - the Range header of artifact downloads. */
#include "domain/byterange.h"
#include "unit.h"

#include <stdint.h>

/* Expects a 206 range [off, off + len) for h against size. */
static void one(const char *h, uint64_t size, uint64_t off, uint64_t len)
{
	uint64_t o = 77, l = 77;

	CHECK_EQ_INT(byterange_parse(h, size, &o, &l), BYTERANGE_ONE);
	CHECK_EQ_INT(o, off);
	CHECK_EQ_INT(l, len);
}

static void byterange_reads_first_middle_open_and_suffix_ranges(void)
{
	one("bytes=0-99", 1000, 0, 100);
	one("bytes=400-499", 1000, 400, 100);
	one("bytes=900-", 1000, 900, 100);
	one("bytes=-100", 1000, 900, 100);
	one("bytes=999-999", 1000, 999, 1);
	one("BYTES= 5-9 ", 1000, 5, 5);
}

static void byterange_clamps_ends_past_the_file(void)
{
	one("bytes=990-5000", 1000, 990, 10);
	one("bytes=-5000", 1000, 0, 1000);
	one("bytes=0-18446744073709551615", 10, 0, 10);
}

static void byterange_refuses_starts_past_the_end(void)
{
	uint64_t o = 0, l = 0;

	CHECK_EQ_INT(byterange_parse("bytes=1000-", 1000, &o, &l), BYTERANGE_UNSATISFIABLE);
	CHECK_EQ_INT(byterange_parse("bytes=2000-3000", 1000, &o, &l), BYTERANGE_UNSATISFIABLE);
	CHECK_EQ_INT(byterange_parse("bytes=-0", 1000, &o, &l), BYTERANGE_UNSATISFIABLE);
	CHECK_EQ_INT(byterange_parse("bytes=0-", 0, &o, &l), BYTERANGE_UNSATISFIABLE);
	CHECK_EQ_INT(byterange_parse("bytes=-1", 0, &o, &l), BYTERANGE_UNSATISFIABLE);
}

static void byterange_ignores_several_ranges_and_nonsense(void)
{
	static const char *const whole[] = {
		"bytes=0-1,5-6", "items=0-1", "bytes=5-1", "bytes=x-", "bytes=", "bytes=-",
		"bytes=1-2-3", "bytes=1 - 2", "bytes=99999999999999999999-", "bytes=--1",
		"bytes=+1-2", "", "bytes=0-1 x",
	};
	uint64_t o = 7, l = 7;

	CHECK_EQ_INT(byterange_parse(NULL, 1000, &o, &l), BYTERANGE_NONE);
	for (size_t i = 0; i < sizeof(whole) / sizeof(whole[0]); i++) {
		if (byterange_parse(whole[i], 1000, &o, &l) != BYTERANGE_NONE)
			fprintf(stderr, "  not ignored: \"%s\"\n", whole[i]);
		CHECK_EQ_INT(byterange_parse(whole[i], 1000, &o, &l), BYTERANGE_NONE);
	}
	CHECK_EQ_INT(o, 7);
	CHECK_EQ_INT(l, 7);
}

static const struct unit_case cases[] = {
	UNIT(byterange_reads_first_middle_open_and_suffix_ranges),
	UNIT(byterange_clamps_ends_past_the_file),
	UNIT(byterange_refuses_starts_past_the_end),
	UNIT(byterange_ignores_several_ranges_and_nonsense),
	{0},
};
UNIT_MAIN(cases)
