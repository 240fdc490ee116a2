/*
 * test_delta.c - the pure parts of deltas: the metadata parsers
 * (domain/delta) and the zstd patch-from round trip (common/zpatch): a
 * delta rebuilds the new file exactly, a wrong base or a corrupt delta is
 * refused, the window cap holds.
 */
#include "common/zpatch.h"
#include "domain/delta.h"

#include "unit.h"

#include <fcntl.h>
#include <openssl/sha.h>

#define A64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define B64 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define C64 "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

static int meta(const char *s, struct delta_meta *m, struct ramp_err *e)
{
	memset(e, 0, sizeof(*e));
	return delta_meta_parse(s, strlen(s), m, e);
}

static void delta_meta_accepts_a_registration(void)
{
	struct delta_meta m;
	struct ramp_err e;

	CHECK_EQ_INT(meta("{\"from\":\"sha256:" A64 "\",\"to\":\"sha256:" B64
			  "\",\"digest\":\"sha256:" C64 "\",\"format\":\"zstd-patch\"}", &m, &e), 0);
	CHECK_EQ_STR(m.from, "sha256:" A64);
	CHECK_EQ_STR(m.to, "sha256:" B64);
	CHECK_EQ_STR(m.digest, "sha256:" C64);
}

static void delta_meta_refuses_bad_input_naming_the_field(void)
{
	struct delta_meta m;
	struct ramp_err e;

	CHECK_EQ_INT(meta("[1]", &m, &e), RAMP_EMALFORMED);
	CHECK_EQ_INT(meta("{\"from\":\"sha256:" A64 "\",\"to\":\"sha256:" B64
			  "\",\"digest\":\"sha256:" C64 "\",\"format\":\"bsdiff\"}", &m, &e), RAMP_EINVAL);
	CHECK_EQ_STR(e.field, "format");
	CHECK_EQ_INT(meta("{\"from\":\"sha256:" A64 "\",\"to\":\"sha256:" A64
			  "\",\"digest\":\"sha256:" C64 "\",\"format\":\"zstd-patch\"}", &m, &e), RAMP_EINVAL);
	CHECK_EQ_STR(e.field, "to");
	CHECK_EQ_INT(meta("{\"from\":\"sha256:" A64 "\",\"to\":\"sha256:" B64
			  "\",\"digest\":\"sha256:ABC\",\"format\":\"zstd-patch\"}", &m, &e), RAMP_EINVAL);
	CHECK_EQ_STR(e.field, "digest");
	CHECK_EQ_INT(meta("{\"from\":\"sha256:" A64 "\",\"to\":\"sha256:" B64
			  "\",\"digest\":\"sha256:" C64 "\",\"format\":\"zstd-patch\",\"x\":1}", &m, &e),
		     RAMP_EINVAL);
	CHECK_EQ_STR(e.field, "x");
	CHECK_EQ_STR(m.from, "");
}

static void delta_offer_parses_and_refuses(void)
{
	struct delta_offer o;
	struct ramp_err e = {0};
	json_t *j = json_loads("{\"from\":\"sha256:" A64 "\",\"url\":\"/v1/artifacts/sha256:" C64
			       "\",\"digest\":\"sha256:" C64 "\",\"size\":7,\"format\":\"zstd-patch\"}",
			       0, NULL);

	CHECK_EQ_INT(delta_offer_parse(j, "models[0].delta", &o, &e), 0);
	CHECK_EQ_INT(o.size, 7);
	CHECK_EQ_STR(o.url, "/v1/artifacts/sha256:" C64);
	json_object_set_new(j, "size", json_integer(0));
	CHECK_EQ_INT(delta_offer_parse(j, "models[0].delta", &o, &e), RAMP_EINVAL);
	CHECK_EQ_STR(e.field, "models[0].delta.size");
	json_object_set_new(j, "size", json_integer(7));
	json_object_set_new(j, "format", json_string("zstd"));
	CHECK_EQ_INT(delta_offer_parse(j, "d", &o, &e), RAMP_EINVAL);
	CHECK_EQ_STR(e.field, "d.format");
	json_decref(j);
}

static void zpatch_window_covers_both_files(void)
{
	CHECK_EQ_INT(zpatch_window_log(0, 0), ZPATCH_WINDOW_LOG_MIN);
	CHECK_EQ_INT(zpatch_window_log(1 << 20, 1 << 20), 21);
	CHECK_EQ_INT(zpatch_window_log((1 << 20) + 1, 1 << 20), 22);
}

static void write_file(const char *path, const unsigned char *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	CHECK(f != NULL);
	if (f) {
		CHECK(fwrite(p, 1, n, f) == n);
		fclose(f);
	}
}

/* old: pseudo-random bytes; new: the same with one region changed and a tail added */
static void make_pair(const char *dir, size_t n, unsigned char **newp, size_t *newn)
{
	unsigned char *a = malloc(n), *b = malloc(n + 4096);
	char path[256];
	unsigned x = 12345;

	for (size_t i = 0; i < n; i++)
		a[i] = (unsigned char)((x = x * 1103515245 + 12345) >> 16);
	memcpy(b, a, n);
	for (size_t i = n / 2; i < n / 2 + 2048; i++)
		b[i] ^= 0x5a;
	for (size_t i = n; i < n + 4096; i++)
		b[i] = (unsigned char)i;
	snprintf(path, sizeof(path), "%s/old", dir);
	write_file(path, a, n);
	snprintf(path, sizeof(path), "%s/new", dir);
	write_file(path, b, n + 4096);
	free(a);
	*newp = b;
	*newn = n + 4096;
}

static int make_delta(const char *dir, struct zpatch_stats *st)
{
	struct zpatch_make_opts o = {3, 27, 1 << 30};
	struct ramp_err e = {0};
	char oldp[256], newp[256], dp[256];
	int fd, rc;

	snprintf(oldp, sizeof(oldp), "%s/old", dir);
	snprintf(newp, sizeof(newp), "%s/new", dir);
	snprintf(dp, sizeof(dp), "%s/delta", dir);
	fd = open(dp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	rc = zpatch_make(oldp, newp, fd, &o, st, &e);
	close(fd);
	return rc;
}

static int apply(const char *dir, const char *base, int wmax, struct zpatch_apply_result *r,
		 struct ramp_err *e)
{
	char bp[256], dp[256], op[256];
	int in, out, rc;

	snprintf(bp, sizeof(bp), "%s/%s", dir, base);
	snprintf(dp, sizeof(dp), "%s/delta", dir);
	snprintf(op, sizeof(op), "%s/out", dir);
	in = open(dp, O_RDONLY);
	out = open(op, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	rc = zpatch_apply(bp, in, out, wmax, 1 << 30, r, e);
	close(in);
	close(out);
	return rc;
}

static void zpatch_round_trip_rebuilds_the_new_file(void)
{
	char dir[] = "/tmp/ramp-zpatch-XXXXXX", hex[65];
	unsigned char *b, md[32];
	size_t bn;
	struct zpatch_stats st;
	struct zpatch_apply_result r;
	struct ramp_err e = {0};

	CHECK(mkdtemp(dir) != NULL);
	make_pair(dir, 1 << 20, &b, &bn);
	CHECK_EQ_INT(make_delta(dir, &st), 0);
	CHECK(st.delta_size > 0 && st.delta_size < (int64_t)bn / 20); /* mostly the same bytes */
	CHECK_EQ_INT(apply(dir, "old", 27, &r, &e), 0);
	CHECK_EQ_INT(r.out_size, (long long)bn);
	SHA256(b, bn, md);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	CHECK_EQ_STR(r.sha256, hex);
	/* a window over the decoder's cap is refused before any memory is taken */
	CHECK_EQ_INT(apply(dir, "old", 20, &r, &e), RAMP_EINVAL);
	free(b);
}

static void zpatch_refuses_a_wrong_base_and_a_corrupt_delta(void)
{
	char dir[] = "/tmp/ramp-zpatch-XXXXXX", p[256];
	unsigned char *b;
	size_t bn;
	struct zpatch_stats st;
	struct zpatch_apply_result r;
	struct ramp_err e = {0};
	FILE *f;

	CHECK(mkdtemp(dir) != NULL);
	make_pair(dir, 1 << 18, &b, &bn);
	CHECK_EQ_INT(make_delta(dir, &st), 0);
	/* the new file as base: the frame's checksum no longer holds */
	CHECK(apply(dir, "new", 27, &r, &e) != 0);
	/* a flipped byte in the middle of the delta */
	snprintf(p, sizeof(p), "%s/delta", dir);
	f = fopen(p, "r+b");
	CHECK(f != NULL);
	fseek(f, st.delta_size / 2, SEEK_SET);
	fputc(0xff ^ (int)st.delta_size, f);
	fclose(f);
	CHECK(apply(dir, "old", 27, &r, &e) != 0);
	/* a truncated delta */
	CHECK_EQ_INT(truncate(p, st.delta_size / 3), 0);
	CHECK(apply(dir, "old", 27, &r, &e) != 0);
	free(b);
}

static const struct unit_case cases[] = {
	UNIT(delta_meta_accepts_a_registration),
	UNIT(delta_meta_refuses_bad_input_naming_the_field),
	UNIT(delta_offer_parses_and_refuses),
	UNIT(zpatch_window_covers_both_files),
	UNIT(zpatch_round_trip_rebuilds_the_new_file),
	UNIT(zpatch_refuses_a_wrong_base_and_a_corrupt_delta),
	{0},
};
UNIT_MAIN(cases)
