/* test_common.c - the shared helpers of server/common: the capped buffer
 * grows, fails loudly past its cap, and stays failed. */
#include "common/buf.h"
#include "unit.h"

static void buf_appends_and_terminates(void)
{
	struct buf b = {0};

	CHECK_EQ_STR(buf_str(&b), "");
	CHECK_EQ_INT(buf_append(&b, "ab", 2), 0);
	CHECK_EQ_INT(buf_puts(&b, "cd"), 0);
	CHECK_EQ_INT(buf_printf(&b, "-%d-%s", 42, "x"), 0);
	CHECK_EQ_STR(buf_str(&b), "abcd-42-x");
	CHECK_EQ_INT(b.len, 9);
	CHECK(!buf_failed(&b));
	buf_free(&b);
	buf_free(&b); /* a freed buffer frees again as a no-op */
}

static void buf_grows_past_its_first_allocation(void)
{
	struct buf b;
	char line[1000];

	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	buf_init(&b, 0);
	for (int i = 0; i < 100; i++)
		CHECK_EQ_INT(buf_printf(&b, "%s%d\n", line, i), 0);
	CHECK(b.len > 100 * 1000);
	CHECK_EQ_INT(b.p[b.len], '\0');
	CHECK(strstr(b.p, "x99\n") != NULL);
	buf_free(&b);
}

static void buf_fails_past_its_cap_and_stays_failed(void)
{
	struct buf b;

	buf_init(&b, 10);
	CHECK_EQ_INT(buf_puts(&b, "0123456789"), 0); /* exactly the cap */
	CHECK_EQ_INT(buf_append(&b, "!", 1), -1);
	CHECK(buf_failed(&b));
	CHECK(buf_str(&b) == NULL);
	CHECK_EQ_INT(b.len, 10); /* contents as before the failing append */
	CHECK_EQ_INT(buf_append(&b, "", 0), -1); /* sticky */
	buf_reset(&b);
	CHECK(!buf_failed(&b));
	CHECK_EQ_INT(buf_printf(&b, "%s", "0123456789a"), -1);
	CHECK_EQ_STR(b.p, ""); /* a failed printf leaves no partial text */
	buf_free(&b);
	CHECK_EQ_INT(b.max, 10); /* buf_free keeps the cap */
}

static void buf_printf_fails_past_cap_mid_page(void)
{
	struct buf b;
	int rc = 0;

	buf_init(&b, 4096);
	for (int i = 0; i < 1000 && rc == 0; i++)
		rc = buf_printf(&b, "metric_%d %d\n", i, i);
	CHECK_EQ_INT(rc, -1);
	CHECK(buf_failed(&b));
	CHECK(b.len <= 4096);
	buf_free(&b);
}

static const struct unit_case cases[] = {
	UNIT(buf_appends_and_terminates),
	UNIT(buf_grows_past_its_first_allocation),
	UNIT(buf_fails_past_its_cap_and_stays_failed),
	UNIT(buf_printf_fails_past_cap_mid_page),
	{0},
};

UNIT_MAIN(cases)
