/* test_bucket.c - stage membership ordering and sizes. */
#include "domain/bucket.h"
#include "unit.h"

static void bucket_key_is_first_8_bytes_of_sha256_big_endian(void)
{
	/* printf '7:pi-wh-1' | sha256sum -> 6f0a4a8a0b24a2a4... (first 16 hex) */
	FILE *p = popen("printf '7:pi-wh-1' | openssl dgst -sha256 -r", "r");
	char hex[80] = {0};
	unsigned long long want;

	CHECK(p != NULL);
	CHECK(fgets(hex, sizeof(hex), p) != NULL);
	pclose(p);
	hex[16] = '\0';
	want = strtoull(hex, NULL, 16);
	CHECK_EQ_INT(bucket_key(7, "pi-wh-1") == want, 1);
	CHECK(bucket_key(7, "pi-wh-1") != bucket_key(8, "pi-wh-1"));
}

static void bucket_stage_count_is_ceil_and_never_zero(void)
{
	CHECK_EQ_INT(bucket_stage_count(0.01, 300), 3);
	CHECK_EQ_INT(bucket_stage_count(0.01, 301), 4);
	CHECK_EQ_INT(bucket_stage_count(0.01, 5), 1);
	CHECK_EQ_INT(bucket_stage_count(0.25, 1000), 250);
	CHECK_EQ_INT(bucket_stage_count(0.25, 1001), 251);
	CHECK_EQ_INT(bucket_stage_count(1.0, 1001), 1001);
	CHECK_EQ_INT(bucket_stage_count(0.5, 0), 0);
	CHECK_EQ_INT(bucket_stage_count(0.1, 30), 3);
	CHECK_EQ_INT(bucket_stage_count(0.7, 10), 7);
}

static void bucket_order_is_sorted_and_later_stages_contain_earlier(void)
{
	struct bucket_entry e[200];
	char ids[200][16];

	for (int i = 0; i < 200; i++) {
		snprintf(ids[i], sizeof(ids[i]), "dev-%d", i);
		e[i].device_id = ids[i];
	}
	bucket_order(42, e, 200);
	for (int i = 1; i < 200; i++)
		CHECK(e[i - 1].key <= e[i].key);
	/* a prefix of a sorted order: stage(0.1) is inside stage(0.5) by construction;
	 * and ordering is independent of input order */
	{
		struct bucket_entry f[200];
		for (int i = 0; i < 200; i++)
			f[i].device_id = ids[199 - i];
		bucket_order(42, f, 200);
		for (int i = 0; i < 200; i++)
			CHECK_EQ_STR(f[i].device_id, e[i].device_id);
	}
}

static const struct unit_case cases[] = {
	UNIT(bucket_key_is_first_8_bytes_of_sha256_big_endian),
	UNIT(bucket_stage_count_is_ceil_and_never_zero),
	UNIT(bucket_order_is_sorted_and_later_stages_contain_earlier),
	{0},
};
UNIT_MAIN(cases)
