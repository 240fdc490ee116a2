/* test_fleet.c - the snapshot's device table: records and both indexes
 * against a plain reference model under thousands of random puts, deletes
 * and token changes (records reused, indexes grown and cleaned of deleted
 * slots), token expiry, a token moving to another device, and the extra
 * tokens of a rotation. */
#include "common/err.h"
#include "snapshot/fleet.h"
#include "unit.h"

#define N 3000

struct ref {
	char id[32];
	bool live;
	uint32_t cls;
	int ntok;
	unsigned char tok[3][32];
	int64_t exp[3];
};

static struct ref refs[N];

static void tok_of(unsigned char h[32], int dev, int k, int gen)
{
	for (int i = 0; i < 32; i++)
		h[i] = (unsigned char)(dev * 131 + k * 17 + gen * 7 + i * 29 + (i == 0 ? dev >> 8 : 0));
	h[1] = (unsigned char)dev;
	h[2] = (unsigned char)(dev >> 8);
	h[3] = (unsigned char)k;
	h[4] = (unsigned char)gen;
}

static int failures_before;

static void check_all(struct fleet *f, int64_t now)
{
	size_t live = 0;

	for (int i = 0; i < N; i++) {
		uint32_t idx = fleet_find(f, refs[i].id);
		if (!refs[i].live) {
			CHECK(idx == FLEET_NONE);
			continue;
		}
		live++;
		CHECK(idx != FLEET_NONE);
		if (idx == FLEET_NONE)
			continue;
		CHECK_EQ_INT(fleet_get(f, idx)->cls, refs[i].cls);
		CHECK(strcmp(fleet_get(f, idx)->id, refs[i].id) == 0);
		for (int k = 0; k < refs[i].ntok; k++) {
			uint32_t t = fleet_find_token(f, refs[i].tok[k], now);
			bool valid = refs[i].exp[k] == 0 || refs[i].exp[k] > now;
			CHECK(t == (valid ? idx : FLEET_NONE));
		}
	}
	CHECK_EQ_INT(fleet_size(f), live);
}

static void fleet_matches_a_reference_under_random_changes(void)
{
	struct fleet *f = fleet_new();
	unsigned seed = 12345;
	int64_t now = 1000;

	CHECK(f != NULL);
	for (int i = 0; i < N; i++)
		snprintf(refs[i].id, sizeof(refs[i].id), "dev-%05d", i);
	failures_before = unit_failures_;
	for (int step = 0; step < 40000 && unit_failures_ == failures_before; step++) {
		int i = (int)(rand_r(&seed) % N), op = (int)(rand_r(&seed) % 10);
		uint32_t idx;
		if (op < 5) { /* put, with new tokens */
			refs[i].cls = (uint32_t)(rand_r(&seed) % 50);
			CHECK_EQ_INT(fleet_put(f, refs[i].id, refs[i].cls, &idx), 0);
			refs[i].live = true;
			fleet_clear_tokens(f, idx);
			refs[i].ntok = (int)(rand_r(&seed) % 4);
			for (int k = 0; k < refs[i].ntok; k++) {
				tok_of(refs[i].tok[k], i, k, step);
				refs[i].exp[k] = k == 0 ? 0 : now + (int64_t)(rand_r(&seed) % 5) - 2;
				CHECK_EQ_INT(fleet_add_token(f, idx, refs[i].tok[k], refs[i].exp[k]), 0);
			}
		} else if (op < 8) { /* delete */
			idx = fleet_find(f, refs[i].id);
			if (idx != FLEET_NONE)
				fleet_del(f, idx);
			refs[i].live = false;
			refs[i].ntok = 0;
		} else if (refs[i].live) { /* a class change only */
			refs[i].cls = (uint32_t)(rand_r(&seed) % 50);
			fleet_set_class(f, fleet_find(f, refs[i].id), refs[i].cls);
		}
		if (step % 997 == 0)
			check_all(f, now);
	}
	check_all(f, now);
	check_all(f, now + 10);
	CHECK(fleet_bytes(f) > 0);
	fleet_free(f);
}

static void a_deleted_device_loses_every_token(void)
{
	struct fleet *f = fleet_new();
	unsigned char a[32], b[32];
	uint32_t x, y;

	tok_of(a, 1, 0, 0);
	tok_of(b, 1, 1, 0);
	CHECK_EQ_INT(fleet_put(f, "pi-1", 3, &x), 0);
	CHECK_EQ_INT(fleet_add_token(f, x, a, 0), 0);
	CHECK_EQ_INT(fleet_add_token(f, x, b, 0), 0);
	CHECK(fleet_find_token(f, b, 0) == x);
	fleet_del(f, x);
	CHECK(fleet_find_token(f, a, 0) == FLEET_NONE);
	CHECK(fleet_find_token(f, b, 0) == FLEET_NONE);
	CHECK(fleet_find(f, "pi-1") == FLEET_NONE);
	/* the record is reused, without the old tokens */
	CHECK_EQ_INT(fleet_put(f, "pi-2", 4, &y), 0);
	CHECK(fleet_find_token(f, a, 0) == FLEET_NONE);
	CHECK_EQ_INT(fleet_get(f, y)->cls, 4);
	CHECK_EQ_INT(fleet_size(f), 1);
	fleet_free(f);
}

static void a_token_held_twice_goes_to_the_last_device(void)
{
	struct fleet *f = fleet_new();
	unsigned char a[32];
	uint32_t x, y;

	tok_of(a, 9, 0, 0);
	CHECK_EQ_INT(fleet_put(f, "pi-1", 0, &x), 0);
	CHECK_EQ_INT(fleet_put(f, "pi-2", 0, &y), 0);
	CHECK_EQ_INT(fleet_add_token(f, x, a, 0), 0);
	CHECK_EQ_INT(fleet_add_token(f, y, a, 0), 0);
	CHECK(fleet_find_token(f, a, 0) == y);
	fleet_free(f);
}

static void an_expired_token_is_refused_at_its_second(void)
{
	struct fleet *f = fleet_new();
	unsigned char a[32];
	uint32_t x;

	tok_of(a, 5, 0, 0);
	CHECK_EQ_INT(fleet_put(f, "pi-1", 0, &x), 0);
	CHECK_EQ_INT(fleet_add_token(f, x, a, 100), 0);
	CHECK(fleet_find_token(f, a, 99) == x);
	CHECK(fleet_find_token(f, a, 100) == FLEET_NONE);
	fleet_free(f);
}

static void a_record_is_one_cache_line(void)
{
	CHECK_EQ_INT(sizeof(struct fleet_dev), 64);
}

static const struct unit_case cases[] = {
	UNIT(fleet_matches_a_reference_under_random_changes),
	UNIT(a_deleted_device_loses_every_token),
	UNIT(a_token_held_twice_goes_to_the_last_device),
	UNIT(an_expired_token_is_refused_at_its_second),
	UNIT(a_record_is_one_cache_line),
	{0},
};
UNIT_MAIN(cases)
