/* test_common.c - what server/common shares with every layer: the capped buffer
 * grows, fails loudly past its cap, and stays failed; the hash is FNV-1a
 * 64; hex is lower case; the monotonic clock does not go back. */
#include "auth/roles.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/fdio.h"
#include "common/hash.h"
#include "common/hex.h"
#include "common/strmap.h"
#include "domain/ddi.h"
#include "domain/units.h"
#include "unit.h"

#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

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

static void hash_is_standard_fnv1a_64(void)
{
	CHECK(hash_fnv1a_str(HASH_FNV1A_BASIS, "") == 0xcbf29ce484222325ULL);
	CHECK(hash_fnv1a_str(HASH_FNV1A_BASIS, "a") == 0xaf63dc4c8601ec8cULL);
	CHECK(hash_fnv1a_str(HASH_FNV1A_BASIS, "foobar") == 0x85944171f73967e8ULL);
	CHECK(hash_fnv1a(hash_fnv1a(HASH_FNV1A_BASIS, "foo", 3), "bar", 3) ==
	      0x85944171f73967e8ULL);
}

static void hash_keeps_the_ddi_action_hash_on_the_wire(void)
{
	/* the value the action hash had before the hash was shared */
	CHECK_EQ_INT(ddi_c_hash("\"aa\"", 1), 1601690255);
}

static void hex_encodes_lower_case(void)
{
	const unsigned char b[] = {0x00, 0x0f, 0xa5, 0xff};
	char out[2 * sizeof(b) + 1];

	CHECK_EQ_STR(hex_encode(out, b, sizeof(b)), "000fa5ff");
	CHECK_EQ_STR(hex_encode(out, b, 0), "");
}

static void clock_mono_does_not_go_back(void)
{
	int64_t a = clock_mono_ms(), b = clock_mono_ms();
	struct timespec d = clock_deadline(1500);
	struct timespec now;

	CHECK(b >= a);
	CHECK(clock_mono_us() / 1000 >= b);
	CHECK(clock_wall_s() > 1.6e9);
	clock_gettime(CLOCK_MONOTONIC, &now);
	CHECK(d.tv_nsec >= 0 && d.tv_nsec < 1000000000);
	CHECK(d.tv_sec >= now.tv_sec + 1 && d.tv_sec <= now.tv_sec + 2);
}

static void roles_table_gives_the_bits_and_names(void)
{
	CHECK_EQ_INT(ROLE_COUNT, 7);
	CHECK_EQ_INT(ROLES_ANY, 0x7f);
	CHECK_EQ_INT(ROLE_ADMIN, 1);
	CHECK_EQ_INT(ROLE_DEVICE, 1 << 6);
	CHECK_EQ_INT(ROLE_INDEX_INGEST, 5);
	CHECK_EQ_STR(ROLE_TOKEN_NAMES, "admin, operator, viewer, ci, enroll, ingest");
}

static void int_parser_checks_range_and_junk(void)
{
	int64_t v = -7;

	CHECK_EQ_INT(units_parse_int("42", 1, 100, &v), 0);
	CHECK_EQ_INT(v, 42);
	CHECK_EQ_INT(units_parse_int("-5", -10, 10, &v), 0);
	CHECK_EQ_INT(v, -5);
	CHECK_EQ_INT(units_parse_int("0", 1, 100, &v), RAMP_EINVAL);
	CHECK_EQ_INT(units_parse_int("101", 1, 100, &v), RAMP_EINVAL);
	CHECK_EQ_INT(units_parse_int("", 1, 100, &v), RAMP_EINVAL);
	CHECK_EQ_INT(units_parse_int("12x", 1, 100, &v), RAMP_EINVAL);
	CHECK_EQ_INT(units_parse_int("99999999999999999999", 0, INT64_MAX, &v), RAMP_EINVAL);
	CHECK_EQ_INT(units_parse_int(NULL, 0, 1, &v), RAMP_EINVAL);
	CHECK_EQ_INT(v, -5); /* untouched by a failure */
}

static void hex_decodes_either_case_and_refuses_junk(void)
{
	unsigned char b[3];

	CHECK_EQ_INT(hex_decode(b, "0aFf10", 3), 0);
	CHECK(b[0] == 0x0a && b[1] == 0xff && b[2] == 0x10);
	CHECK_EQ_INT(hex_decode(b, "0g", 1), RAMP_EINVAL);
	CHECK_EQ_INT(hex_decode(b, "0", 1), RAMP_EINVAL);
}

/* Deletion shifts the run back: after thousands of random sets and
 * deletes every key is found exactly when a plain array says it is there. */
static void strmap_deletes_keep_every_other_key_findable(void)
{
	enum { N = 4000 };
	static bool in[N];
	struct strmap *m = strmap_new();
	unsigned seed = 7;
	char key[32];

	for (int step = 0; step < 60000; step++) {
		int k = (int)(rand_r(&seed) % N);
		snprintf(key, sizeof(key), "dev-%d", k);
		if (rand_r(&seed) % 3) {
			CHECK_EQ_INT(strmap_set(m, key, (void *)(intptr_t)(k + 1)), 0);
			in[k] = true;
		} else {
			CHECK(strmap_del(m, key) == in[k]);
			in[k] = false;
		}
	}
	size_t n = 0;
	for (int k = 0; k < N; k++) {
		snprintf(key, sizeof(key), "dev-%d", k);
		CHECK(strmap_get(m, key) == (in[k] ? (void *)(intptr_t)(k + 1) : NULL));
		n += in[k];
	}
	CHECK_EQ_INT(strmap_size(m), n);
	strmap_free(m);
}

/* SHA-256 test vectors (FIPS 180-2): "", "abc", and one million 'a's
 * written in pieces, hashed without moving the file offset. */
static void fdio_hashes_whole_files_and_keeps_the_offset(void)
{
	char path[] = "/tmp/ramp-fdio-XXXXXX", hex[65];
	static char block[100000];
	int fd = mkstemp(path);
	int64_t bytes = -1;

	CHECK(fd >= 0);
	unlink(path);
	CHECK_EQ_INT(fd_sha256(fd, hex, &bytes), 0);
	CHECK_EQ_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	CHECK_EQ_INT(bytes, 0);
	CHECK_EQ_INT(fd_write_all(fd, "abc", 3), 0);
	CHECK_EQ_INT(fd_sha256(fd, hex, &bytes), 0);
	CHECK_EQ_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	CHECK_EQ_INT(bytes, 3);
	CHECK_EQ_INT(lseek(fd, 0, SEEK_CUR), 3);
	CHECK_EQ_INT(ftruncate(fd, 0), 0);
	CHECK_EQ_INT(lseek(fd, 0, SEEK_SET), 0);
	memset(block, 'a', sizeof(block));
	for (int i = 0; i < 10; i++)
		CHECK_EQ_INT(fd_write_all(fd, block, sizeof(block)), 0);
	CHECK_EQ_INT(fd_sha256(fd, hex, &bytes), 0);
	CHECK_EQ_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	CHECK_EQ_INT(bytes, 1000000);
	CHECK_EQ_INT(lseek(fd, 0, SEEK_SET), 0);
	CHECK_EQ_INT(fd_read_some(fd, hex, 4), 4);
	CHECK(memcmp(hex, "aaaa", 4) == 0);
	close(fd);
	CHECK_EQ_INT(fd_write_all(fd, "x", 1), RAMP_EIO);
	CHECK_EQ_INT(fd_sha256(fd, hex, NULL), RAMP_EIO);
}

static const struct unit_case cases[] = {
	UNIT(fdio_hashes_whole_files_and_keeps_the_offset),
	UNIT(hex_decodes_either_case_and_refuses_junk),
	UNIT(strmap_deletes_keep_every_other_key_findable),
	UNIT(buf_appends_and_terminates),
	UNIT(buf_grows_past_its_first_allocation),
	UNIT(buf_fails_past_its_cap_and_stays_failed),
	UNIT(buf_printf_fails_past_cap_mid_page),
	UNIT(hash_is_standard_fnv1a_64),
	UNIT(hash_keeps_the_ddi_action_hash_on_the_wire),
	UNIT(hex_encodes_lower_case),
	UNIT(clock_mono_does_not_go_back),
	UNIT(roles_table_gives_the_bits_and_names),
	UNIT(int_parser_checks_range_and_junk),
	{0},
};

UNIT_MAIN(cases)
