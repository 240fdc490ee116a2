/*
 * test_agent_lib.c - the agent library's pure parts: reading the desired
 * answer, verifying a manifest and a file, telemetry counters, and the
 * configuration.  Signatures use the fixtures of tests/unit/fixtures/sig
 * (manifest.yaml signed by ecdsa.key; ecdsa2 is another key).
 */
#include "conf.h"
#include "desired.h"
#include "stats.h"
#include "verify.h"

#include "domain/sig.h"

#include "../unit/unit.h"

#include <fcntl.h>
#include <pthread.h>

#define FIX "tests/unit/fixtures/sig/"
#define CLOUD_DIGEST "sha256:1a3c5e7f9b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = malloc(1 << 16);
	size_t n;

	if (f == NULL || buf == NULL) {
		fprintf(stderr, "  cannot read %s (run from the repo root)\n", path);
		exit(1);
	}
	n = fread(buf, 1, (1 << 16) - 1, f);
	buf[n] = 0;
	fclose(f);
	if (len)
		*len = n;
	return buf;
}

/* A desired entry for the fixture manifest's cloud variant, signed by ecdsa.key. */
static void fixture_entry(struct desired_model *e)
{
	size_t n;
	char *text = slurp(FIX "manifest.yaml", &n);

	memset(e, 0, sizeof(*e));
	snprintf(e->model, sizeof(e->model), "invoice-ocr");
	snprintf(e->version, sizeof(e->version), "2026.01.10-rc1");
	snprintf(e->platform, sizeof(e->platform), "cloud-x86-onnx");
	snprintf(e->digest, sizeof(e->digest), CLOUD_DIGEST);
	e->manifest_b64 = sig_base64_encode(text, n);
	e->signature = slurp(FIX "manifest.yaml.ecdsa.sig", NULL);
	free(text);
}

static void free_entry(struct desired_model *e)
{
	free(e->manifest_b64);
	free(e->signature);
	e->manifest_b64 = e->signature = NULL;
}

static int verify_with(const struct desired_model *e, const char *pub, struct verify_signed *out,
		       struct ramp_err *err)
{
	size_t n;
	char *pem = slurp(pub, &n);
	int rc = verify_manifest(e, pem, n, 1767000000.0, out, err);

	free(pem);
	return rc;
}

static void desired_reads_entries_and_finds_one_by_model_and_platform(void)
{
	const char *text = "{\"device_id\":\"pi-1\",\"poll_after_s\":30,\"models\":["
			   "{\"model\":\"a\",\"version\":\"1\",\"platform\":\"p\",\"file\":\"f\","
			   "\"digest\":\"" CLOUD_DIGEST "\",\"url\":\"http://x/a\",\"size\":12,"
			   "\"manifest\":\"bQ==\",\"signature\":\"c2ln\",\"key_id\":\"k\","
			   "\"rollout\":{\"id\":7,\"stage\":\"canary\"},"
			   "\"previous\":{\"version\":\"0\",\"digest\":\"" CLOUD_DIGEST "\",\"url\":\"u\"}},"
			   "{\"model\":\"b\",\"version\":\"2\",\"platform\":\"q\",\"digest\":\"" CLOUD_DIGEST
			   "\",\"url\":\"u\",\"manifest\":\"bQ==\",\"signature\":\"c2ln\",\"rollout\":null,"
			   "\"previous\":null}]}";
	struct desired d;
	struct ramp_err err = {0};

	CHECK_EQ_INT(desired_parse(text, strlen(text), &d, &err), 0);
	CHECK_EQ_STR(d.device_id, "pi-1");
	CHECK_EQ_INT(d.poll_after_s, 30);
	CHECK_EQ_INT(d.n, 2);
	CHECK_EQ_INT(d.models[0].size, 12);
	CHECK_EQ_INT(d.models[0].rollout_id, 7);
	CHECK_EQ_STR(d.models[0].prev_version, "0");
	CHECK_EQ_INT(d.models[1].size, -1);
	CHECK_EQ_STR(d.models[1].prev_version, "");
	CHECK(desired_find(&d, NULL, "q") == &d.models[1]);
	CHECK(desired_find(&d, "a", NULL) == &d.models[0]);
	CHECK(desired_find(&d, "a", "q") == NULL);
	desired_free(&d);
}

static void desired_refuses_a_bad_digest_naming_the_entry(void)
{
	const char *text = "{\"device_id\":\"pi-1\",\"models\":[{\"model\":\"a\",\"version\":\"1\","
			   "\"platform\":\"p\",\"digest\":\"md5:abc\",\"url\":\"u\",\"manifest\":\"m\","
			   "\"signature\":\"s\"}]}";
	struct desired d;
	struct ramp_err err = {0};

	CHECK_EQ_INT(desired_parse(text, strlen(text), &d, &err), RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "models[0].digest");
	CHECK_EQ_INT(d.n, 0);
	CHECK_EQ_INT(desired_parse("[]", 2, &d, &err), RAMP_EMALFORMED);
}

static void verify_accepts_the_signed_manifest_and_returns_its_digest(void)
{
	struct desired_model e;
	struct verify_signed sv;
	struct ramp_err err = {0};

	fixture_entry(&e);
	CHECK_EQ_INT(verify_with(&e, FIX "ecdsa.pub", &sv, &err), 0);
	CHECK_EQ_STR(sv.digest, CLOUD_DIGEST);
	CHECK_EQ_INT(sv.size, -1);
	free_entry(&e);
}

static void verify_refuses_a_manifest_signed_by_another_key(void)
{
	struct desired_model e;
	struct verify_signed sv;
	struct ramp_err err = {0};

	fixture_entry(&e);
	CHECK_EQ_INT(verify_with(&e, FIX "ecdsa2.pub", &sv, &err), RAMP_EINVAL);
	CHECK(strstr(err.msg, "manifest signature does not verify") != NULL);
	free_entry(&e);
}

static void verify_refuses_what_the_manifest_does_not_sign(void)
{
	struct desired_model e;
	struct verify_signed sv;
	struct ramp_err err = {0};

	fixture_entry(&e);
	e.digest[10] = e.digest[10] == 'a' ? 'b' : 'a';
	CHECK_EQ_INT(verify_with(&e, FIX "ecdsa.pub", &sv, &err), RAMP_EINVAL);
	CHECK(strstr(err.msg, "is not the signed manifest's") != NULL);
	free_entry(&e);
	fixture_entry(&e);
	snprintf(e.version, sizeof(e.version), "2027");
	CHECK_EQ_INT(verify_with(&e, FIX "ecdsa.pub", &sv, &err), RAMP_EINVAL);
	CHECK(strstr(err.msg, "not 2027") != NULL);
	free_entry(&e);
	fixture_entry(&e);
	snprintf(e.platform, sizeof(e.platform), "jetson");
	CHECK_EQ_INT(verify_with(&e, FIX "ecdsa.pub", &sv, &err), RAMP_EINVAL);
	CHECK(strstr(err.msg, "no variant for platform jetson") != NULL);
	free_entry(&e);
}

static void verify_file_names_truncation_size_and_digest_mismatch(void)
{
	char path[] = "/tmp/ramp-agent-test-XXXXXX", hex[65], good[80];
	int fd = mkstemp(path);
	struct ramp_err err = {0};
	int64_t n;

	CHECK(fd >= 0 && write(fd, "hello", 5) == 5);
	close(fd);
	CHECK_EQ_INT(verify_file_sha256(path, hex, &n), 0);
	CHECK_EQ_INT(n, 5);
	snprintf(good, sizeof(good), "sha256:%s", hex);
	CHECK_EQ_STR(good, "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
	CHECK_EQ_INT(verify_file(path, good, 5, &err), 0);
	CHECK_EQ_INT(verify_file(path, good, -1, &err), 0);
	CHECK_EQ_INT(verify_file(path, good, 10, &err), RAMP_EINVAL);
	CHECK_EQ_STR(err.msg, "file is truncated: 5 of 10 bytes");
	CHECK_EQ_INT(verify_file(path, good, 4, &err), RAMP_EINVAL);
	CHECK(strstr(err.msg, "larger than signed") != NULL);
	CHECK_EQ_INT(verify_file(path, CLOUD_DIGEST, -1, &err), RAMP_EINVAL);
	CHECK(strstr(err.msg, "digest mismatch") != NULL);
	unlink(path);
	CHECK_EQ_INT(verify_file(path, good, -1, &err), RAMP_EIO);
}

static void stats_take_reports_histograms_once(void)
{
	struct stats s;
	json_t *r;

	stats_init(&s);
	stats_observe(&s, 0.3, 0, 0.95);
	stats_observe(&s, 7, 1, NAN);
	stats_observe(&s, 5000, 0, 0.05);
	r = stats_take(&s, "m:1");
	CHECK_EQ_STR(json_string_value(json_object_get(r, "model")), "m:1");
	CHECK_EQ_INT(json_integer_value(json_object_get(r, "requests")), 3);
	CHECK_EQ_INT(json_integer_value(json_object_get(r, "errors")), 1);
	json_t *lc = json_object_get(json_object_get(r, "latency_hist"), "counts");
	CHECK_EQ_INT(json_array_size(lc), STATS_LAT_NB + 1);
	CHECK_EQ_INT(json_integer_value(json_array_get(lc, 0)), 1);	/* <= 0.5 ms */
	CHECK_EQ_INT(json_integer_value(json_array_get(lc, 4)), 1);	/* <= 10 ms */
	CHECK_EQ_INT(json_integer_value(json_array_get(lc, STATS_LAT_NB)), 1); /* > 1 s */
	json_t *cc = json_object_get(json_object_get(r, "confidence_hist"), "counts");
	CHECK_EQ_INT(json_integer_value(json_array_get(cc, 0)), 1);
	CHECK_EQ_INT(json_integer_value(json_array_get(cc, STATS_CONF_NB)), 1);
	CHECK_NEAR(json_real_value(json_object_get(r, "confidence_mean")), 0.5, 1e-9);
	json_decref(r);
	r = stats_take(&s, "m:1");
	CHECK_EQ_INT(json_integer_value(json_object_get(r, "requests")), 0);
	CHECK(json_object_get(r, "latency_hist") == NULL);
	json_decref(r);
}

static struct stats shared;
static atomic_int done;

static void *observer(void *arg)
{
	for (int i = 0; i < 200000; i++)
		stats_observe(&shared, 1, 1, NAN);
	atomic_fetch_add(&done, 1);
	return NULL;
}

static void stats_errors_never_exceed_requests_under_concurrent_takes(void)
{
	pthread_t th[2];
	long long req = 0, errs = 0;
	int bad = 0;

	stats_init(&shared);
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, observer, NULL);
	while (atomic_load(&done) < 2 || atomic_load(&shared.requests)) {
		json_t *r = stats_take(&shared, "m:1");
		long long q = json_integer_value(json_object_get(r, "requests"));
		long long e = json_integer_value(json_object_get(r, "errors"));
		bad += e > q;
		req += q;
		errs += e;
		json_decref(r);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(req, 400000);
	CHECK_EQ_INT(errs + (long long)atomic_load(&shared.errors), 400000);
}

static void conf_file_is_read_and_the_command_line_wins(void)
{
	char path[] = "/tmp/ramp-agent-conf-XXXXXX";
	int fd = mkstemp(path);
	const char *text = "# agent\ncontroller = http://ramp:8080/\ntoken=file-token\n"
			   "pubkey " FIX "ecdsa.pub\npoll = 2.5\ncache = /tmp\n";
	char *argv[] = {"x", "--config", path, "--token", "cli-token", "--listen", "y"};
	char other[7] = {0};
	struct conf_src src;
	struct conf defaults = {.telemetry_s = 10, .platform = "cloud-x86-onnx"}, c;
	struct ramp_err err = {0};

	CHECK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	CHECK_EQ_INT(conf_args(7, argv, 1, &src, other, &err), 0);
	CHECK_EQ_INT(other[5], 1);
	CHECK_EQ_INT(conf_build(&defaults, &src, &c, &err), 0);
	CHECK_EQ_STR(c.controller, "http://ramp:8080/");
	CHECK_EQ_STR(c.token, "cli-token");
	CHECK_EQ_STR(c.platform, "cloud-x86-onnx");
	CHECK_NEAR(c.poll_s, 2.5, 1e-9);
	CHECK(c.npubkeys == 1 && strstr(c.pubkey_pem[0], "BEGIN PUBLIC KEY"));
	conf_free(&c);
	unlink(path);
}

static void conf_refuses_unknown_keys_and_private_keys_naming_them(void)
{
	char path[] = "/tmp/ramp-agent-conf-XXXXXX";
	int fd = mkstemp(path);
	const char *text = "controller = http://ramp\ntoken = t\ncolour = blue\n";
	char *argv[] = {"x", "--config", path, "--pubkey", FIX "ecdsa.key"};
	struct conf_src src;
	struct conf defaults = {.model_dir = "/tmp"}, c;
	struct ramp_err err = {0};

	CHECK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	CHECK_EQ_INT(conf_args(5, argv, 1, &src, NULL, &err), 0);
	CHECK_EQ_INT(conf_build(&defaults, &src, &c, &err), RAMP_EINVAL);
	CHECK(strstr(err.msg, "unknown key colour") != NULL);
	text = "controller = http://ramp\ntoken = t\n";
	fd = open(path, O_WRONLY | O_TRUNC);
	CHECK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	CHECK_EQ_INT(conf_build(&defaults, &src, &c, &err), RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "pubkey");
	unlink(path);
}

static const struct unit_case cases[] = {
	UNIT(desired_reads_entries_and_finds_one_by_model_and_platform),
	UNIT(desired_refuses_a_bad_digest_naming_the_entry),
	UNIT(verify_accepts_the_signed_manifest_and_returns_its_digest),
	UNIT(verify_refuses_a_manifest_signed_by_another_key),
	UNIT(verify_refuses_what_the_manifest_does_not_sign),
	UNIT(verify_file_names_truncation_size_and_digest_mismatch),
	UNIT(stats_take_reports_histograms_once),
	UNIT(stats_errors_never_exceed_requests_under_concurrent_takes),
	UNIT(conf_file_is_read_and_the_command_line_wins),
	UNIT(conf_refuses_unknown_keys_and_private_keys_naming_them),
	{0},
};

UNIT_MAIN(cases)
