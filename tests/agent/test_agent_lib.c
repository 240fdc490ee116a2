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
#include "scratch.h"

#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/stat.h>

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

/* A shadow stage's candidate (docs/judge.md "Shadow runs") rides on the served
 * entry, with the entry's model and platform; one this agent cannot read
 * (bad digest, fraction out of (0, 1]) is ignored and the entry still stands. */
static void desired_reads_a_shadow_candidate_and_ignores_a_bad_one(void)
{
#define ENTRY(shadow)                                                                              \
	"{\"device_id\":\"pi-1\",\"models\":[{\"model\":\"a\",\"version\":\"1\",\"platform\":\"p\","     \
	"\"digest\":\"" CLOUD_DIGEST "\",\"url\":\"u\",\"manifest\":\"bQ==\",\"signature\":\"c2ln\","     \
	"\"rollout\":null,\"shadow\":" shadow "}]}"
#define CAND(digest, fraction)                                                                     \
	"{\"version\":\"2\",\"file\":\"g\",\"digest\":\"" digest "\",\"url\":\"http://x/b\",\"size\":5,"    \
	"\"manifest\":\"bQ==\",\"signature\":\"c2ln\",\"key_id\":\"k\","                                 \
	"\"rollout\":{\"id\":3,\"stage\":\"shadow\"},\"fraction\":" fraction "}"
	static const char *const ignored[] = {
		ENTRY(CAND("md5:abc", "0.5")), ENTRY(CAND(CLOUD_DIGEST, "0")),
		ENTRY(CAND(CLOUD_DIGEST, "1.5")), ENTRY(CAND(CLOUD_DIGEST, "\"all\"")),
		ENTRY("\"yes\""), ENTRY("null"),
	};
	const char *text = ENTRY(CAND(CLOUD_DIGEST, "0.25"));
	struct desired d;
	struct ramp_err err = {0};

	CHECK_EQ_INT(desired_parse(text, strlen(text), &d, &err), 0);
	CHECK(d.models[0].shadow != NULL);
	CHECK_EQ_STR(d.models[0].version, "1");
	CHECK_EQ_STR(d.models[0].shadow->version, "2");
	CHECK_EQ_STR(d.models[0].shadow->model, "a");
	CHECK_EQ_STR(d.models[0].shadow->platform, "p");
	CHECK_EQ_STR(d.models[0].shadow->url, "http://x/b");
	CHECK_EQ_INT(d.models[0].shadow->size, 5);
	CHECK_EQ_INT(d.models[0].shadow->rollout_id, 3);
	CHECK(d.models[0].shadow_fraction == 0.25);
	desired_free(&d);
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
		CHECK_EQ_INT(desired_parse(ignored[i], strlen(ignored[i]), &d, &err), 0);
		CHECK_EQ_INT(d.n, 1);
		CHECK(d.models[0].shadow == NULL);
		desired_free(&d);
	}
#undef ENTRY
#undef CAND
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


/* Writes text to dir/name, and that path into path. */
static void conf_put(const char *dir, const char *name, const char *text, char *path, size_t cap)
{
	FILE *f;

	snprintf(path, cap, "%s/%s", dir, name);
	if ((f = fopen(path, "w")) == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
		fprintf(stderr, "  cannot write %s\n", path);
		exit(1);
	}
}

/* conf_build from no defaults and the NULL-terminated "--key", "value" pairs. */
static int conf_from(struct conf *c, struct ramp_err *err, ...)
{
	char *argv[2 * CONF_MAX_PAIRS + 1] = {"ramp-agent"};
	struct conf defaults = {0};
	struct conf_src src;
	int argc = 1, rc;
	va_list ap;
	char *a;

	va_start(ap, err);
	while ((a = va_arg(ap, char *)) != NULL && argc < (int)(sizeof(argv) / sizeof(argv[0])))
		argv[argc++] = a;
	va_end(ap);
	memset(err, 0, sizeof(*err));
	if ((rc = conf_args(argc, argv, 1, &src, NULL, err)) != 0)
		return rc;
	return conf_build(&defaults, &src, c, err);
}

static void conf_derives_model_dir_token_file_and_defaults_from_state_dir(void)
{
	const char *dir = scratch("conf");
	char want[600];
	struct conf c;
	struct ramp_err err;

	CHECK_EQ_INT(conf_from(&c, &err, "--controller", "http://ramp:8080", "--state-dir", dir,
			       "--enroll-token", "enr", "--pubkey", FIX "ecdsa.pub", NULL), 0);
	CHECK_EQ_STR(c.state_dir, dir);
	snprintf(want, sizeof(want), "%s/models", dir);
	CHECK_EQ_STR(c.model_dir, want);
	snprintf(want, sizeof(want), "%s/device.token", dir);
	CHECK_EQ_STR(c.token_file, want);
	CHECK_EQ_STR(c.token, "");
	CHECK_NEAR(c.poll_s, 0, 0);
	CHECK_NEAR(c.poll_min_s, 1, 0);
	CHECK_NEAR(c.poll_max_s, 300, 0);
	CHECK_NEAR(c.telemetry_s, 30, 0);
	CHECK_NEAR(c.telemetry_buffer, 10000, 0);
	CHECK_EQ_INT(c.max_bytes, (int64_t)4 << 30);
	CHECK_EQ_STR(c.reload_signal, "HUP");
	CHECK_NEAR(c.health_timeout_s, 30, 0);
	conf_free(&c);
	scratch_done();
}

static void conf_derives_state_dir_and_token_file_from_model_dir(void)
{
	const char *dir = scratch("conf");
	char want[600];
	struct conf c;
	struct ramp_err err;

	CHECK_EQ_INT(conf_from(&c, &err, "--controller", "http://ramp", "--model-dir", dir,
			       "--enroll-token", "enr", "--pubkey", FIX "ecdsa.pub", NULL), 0);
	CHECK_EQ_STR(c.model_dir, dir);
	snprintf(want, sizeof(want), "%s/.ramp", dir);
	CHECK_EQ_STR(c.state_dir, want);
	snprintf(want, sizeof(want), "%s/.ramp/device.token", dir);
	CHECK_EQ_STR(c.token_file, want);
	conf_free(&c);
	CHECK_EQ_INT(conf_from(&c, &err, "--controller", "http://ramp", "--enroll-token", "enr",
			       "--pubkey", FIX "ecdsa.pub", NULL), RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "model-dir");
	scratch_done();
}

static void conf_takes_cache_as_another_name_for_model_dir(void)
{
	const char *dir = scratch("conf");
	char want[600];
	struct conf c;
	struct ramp_err err;

	CHECK_EQ_INT(conf_from(&c, &err, "--controller", "http://ramp", "--cache", dir,
			       "--enroll-token", "enr", "--pubkey", FIX "ecdsa.pub", NULL), 0);
	CHECK_EQ_STR(c.model_dir, dir);
	snprintf(want, sizeof(want), "%s/.ramp", dir);
	CHECK_EQ_STR(c.state_dir, want);
	conf_free(&c);
	scratch_done();
}

static void conf_reads_the_device_token_from_an_existing_token_file(void)
{
	const char *dir = scratch("conf");
	char path[600], other[600];
	struct conf c;
	struct ramp_err err;

	conf_put(dir, "device.token", "dev-token-1\n", path, sizeof(path));
	CHECK_EQ_INT(conf_from(&c, &err, "--controller", "http://ramp", "--state-dir", dir,
			       "--pubkey", FIX "ecdsa.pub", NULL), 0);
	CHECK_EQ_STR(c.token, "dev-token-1");
	conf_free(&c);
	/* an explicit token-file, and a literal token that wins over it */
	conf_put(dir, "other.token", "dev-token-2 \r\n", other, sizeof(other));
	CHECK_EQ_INT(conf_from(&c, &err, "--controller", "http://ramp", "--state-dir", dir,
			       "--token-file", other, "--pubkey", FIX "ecdsa.pub", NULL), 0);
	CHECK_EQ_STR(c.token, "dev-token-2");
	CHECK_EQ_STR(c.token_file, other);
	conf_free(&c);
	CHECK_EQ_INT(conf_from(&c, &err, "--controller", "http://ramp", "--state-dir", dir,
			       "--token", "literal", "--pubkey", FIX "ecdsa.pub", NULL), 0);
	CHECK_EQ_STR(c.token, "literal");
	conf_free(&c);
	scratch_done();
}

static void conf_accepts_an_enroll_token_alone_as_the_credential(void)
{
	const char *dir = scratch("conf");
	struct conf c;
	struct ramp_err err;

	CHECK_EQ_INT(conf_from(&c, &err, "--controller", "http://ramp", "--state-dir", dir,
			       "--enroll-token", "enr-1", "--pubkey", FIX "ecdsa.pub", NULL), 0);
	CHECK_EQ_STR(c.enroll_token, "enr-1");
	CHECK_EQ_STR(c.token, "");
	CHECK_EQ_STR(c.tls_cert, "");
	conf_free(&c);
	scratch_done();
}

static void conf_reads_and_trims_the_enroll_token_file(void)
{
	const char *dir = scratch("conf");
	char path[600], missing[600];
	struct conf c;
	struct ramp_err err;

	conf_put(dir, "enroll.token", "enr-from-file\r\n\n  \n", path, sizeof(path));
	CHECK_EQ_INT(conf_from(&c, &err, "--controller", "http://ramp", "--state-dir", dir,
			       "--enroll-token-file", path, "--pubkey", FIX "ecdsa.pub", NULL), 0);
	CHECK_EQ_STR(c.enroll_token, "enr-from-file");
	conf_free(&c);
	snprintf(missing, sizeof(missing), "%s/none.token", dir);
	CHECK_EQ_INT(conf_from(&c, &err, "--controller", "http://ramp", "--state-dir", dir,
			       "--enroll-token-file", missing, "--pubkey", FIX "ecdsa.pub", NULL),
		     RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "enroll-token-file");
	CHECK(strstr(err.msg, missing) != NULL);
	scratch_done();
}

static void conf_refuses_a_cert_without_its_key_naming_key(void)
{
	const char *dir = scratch("conf");
	struct conf c;
	struct ramp_err err;

	CHECK_EQ_INT(conf_from(&c, &err, "--controller", "https://ramp", "--state-dir", dir,
			       "--cert", "/etc/ramp/device.crt", "--pubkey", FIX "ecdsa.pub", NULL),
		     RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "key");
	CHECK_EQ_INT(conf_from(&c, &err, "--controller", "https://ramp", "--state-dir", dir,
			       "--token", "t", "--key", "/etc/ramp/device.key", "--pubkey",
			       FIX "ecdsa.pub", NULL), RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "cert");
	/* cert and key together are a credential without any token */
	CHECK_EQ_INT(conf_from(&c, &err, "--controller", "https://ramp", "--state-dir", dir,
			       "--cert", "/etc/ramp/device.crt", "--key", "/etc/ramp/device.key",
			       "--pubkey", FIX "ecdsa.pub", NULL), 0);
	CHECK_EQ_STR(c.token, "");
	conf_free(&c);
	scratch_done();
}

static void conf_refuses_no_credential_at_all_naming_token(void)
{
	const char *dir = scratch("conf");
	struct conf c;
	struct ramp_err err;

	CHECK_EQ_INT(conf_from(&c, &err, "--controller", "http://ramp", "--state-dir", dir,
			       "--pubkey", FIX "ecdsa.pub", NULL), RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "token");
	CHECK(strstr(err.msg, "device.token") != NULL);
	CHECK_EQ_INT(c.npubkeys, 0);
	scratch_done();
}

static void conf_reads_every_key_of_a_pubkey_list(void)
{
	const char *dir = scratch("conf");
	struct conf c;
	struct ramp_err err;

	CHECK_EQ_INT(conf_from(&c, &err, "--controller", "http://ramp", "--state-dir", dir,
			       "--token", "t", "--pubkey", FIX "ecdsa.pub, " FIX "ed25519.pub",
			       NULL), 0);
	CHECK_EQ_INT(c.npubkeys, 2);
	if (c.npubkeys == 2) {
		CHECK(strstr(c.pubkey_pem[0], "BEGIN PUBLIC KEY") != NULL);
		CHECK(strstr(c.pubkey_pem[1], "BEGIN PUBLIC KEY") != NULL);
		CHECK(strcmp(c.pubkey_pem[0], c.pubkey_pem[1]) != 0);
		CHECK_EQ_INT(c.pubkey_len[1], strlen(c.pubkey_pem[1]));
	}
	conf_free(&c);
	CHECK_EQ_INT(c.npubkeys, 0);
	scratch_done();
}

static void conf_refuses_a_pubkey_list_with_a_missing_file_naming_pubkey(void)
{
	const char *dir = scratch("conf");
	struct conf c;
	struct ramp_err err;

	CHECK_EQ_INT(conf_from(&c, &err, "--controller", "http://ramp", "--state-dir", dir,
			       "--token", "t", "--pubkey", FIX "ecdsa.pub," FIX "absent.pub",
			       NULL), RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "pubkey");
	CHECK(strstr(err.msg, "absent.pub") != NULL);
	CHECK_EQ_INT(c.npubkeys, 0);
	CHECK(c.pubkey_pem[0] == NULL);
	scratch_done();
}

static void conf_refuses_poll_max_below_poll_min(void)
{
	const char *dir = scratch("conf");
	struct conf c;
	struct ramp_err err;

	CHECK_EQ_INT(conf_from(&c, &err, "--controller", "http://ramp", "--state-dir", dir,
			       "--token", "t", "--pubkey", FIX "ecdsa.pub", "--poll-min", "10",
			       "--poll-max", "5", NULL), RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "poll-max");
	CHECK_EQ_INT(conf_from(&c, &err, "--controller", "http://ramp", "--state-dir", dir,
			       "--token", "t", "--pubkey", FIX "ecdsa.pub", "--poll-min", "5",
			       "--poll-max", "5", NULL), 0);
	CHECK_NEAR(c.poll_min_s, 5, 0);
	CHECK_NEAR(c.poll_max_s, 5, 0);
	conf_free(&c);
	scratch_done();
}

static void conf_refuses_a_number_out_of_range_naming_the_key(void)
{
	const char *dir = scratch("conf");
	static const char *const bad[][2] = {
		{"poll", "-1"},
		{"poll", "abc"},
		{"poll-min", "0"},
		{"poll-max", "1e9"},
		{"telemetry-interval", "0"},
		{"telemetry-buffer", "0"},
		{"min-free-mb", "-5"},
		{"health-timeout", "86401"},
		{"max-bytes", "0"},
		{"max-bytes", "12x"},
	};
	struct conf c;
	struct ramp_err err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char key[64];

		snprintf(key, sizeof(key), "--%s", bad[i][0]);
		CHECK_EQ_INT(conf_from(&c, &err, "--controller", "http://ramp", "--state-dir", dir,
				       "--token", "t", "--pubkey", FIX "ecdsa.pub", key, bad[i][1],
				       NULL), RAMP_EINVAL);
		if (strcmp(err.field, bad[i][0]) != 0) {
			fprintf(stderr, "  --%s %s: field \"%s\"\n", bad[i][0], bad[i][1],
				err.field);
			CHECK(0);
		}
	}
	CHECK_EQ_INT(conf_from(&c, &err, "--controller", "http://ramp", "--state-dir", dir,
			       "--token", "t", "--pubkey", FIX "ecdsa.pub", "--max-bytes", "1048576",
			       "--telemetry-buffer", "5", NULL), 0);
	CHECK_EQ_INT(c.max_bytes, 1048576);
	CHECK_NEAR(c.telemetry_buffer, 5, 0);
	conf_free(&c);
	scratch_done();
}

static void conf_args_refuses_a_stray_word_and_a_missing_value(void)
{
	char *stray[] = {"x", "--token", "t", "foo"};
	char *dangling[] = {"x", "--token"};
	struct conf_src src;
	struct ramp_err err = {0};

	CHECK_EQ_INT(conf_args(4, stray, 1, &src, NULL, &err), RAMP_EINVAL);
	CHECK(strstr(err.msg, "unexpected argument foo") != NULL);
	ramp_err_clear(&err);
	CHECK_EQ_INT(conf_args(2, dangling, 1, &src, NULL, &err), RAMP_EINVAL);
	CHECK(strstr(err.msg, "--token needs a value") != NULL);
}

static const struct unit_case cases[] = {
	UNIT(conf_args_refuses_a_stray_word_and_a_missing_value),
	UNIT(desired_reads_entries_and_finds_one_by_model_and_platform),
	UNIT(desired_refuses_a_bad_digest_naming_the_entry),
	UNIT(desired_reads_a_shadow_candidate_and_ignores_a_bad_one),
	UNIT(verify_accepts_the_signed_manifest_and_returns_its_digest),
	UNIT(verify_refuses_a_manifest_signed_by_another_key),
	UNIT(verify_refuses_what_the_manifest_does_not_sign),
	UNIT(verify_file_names_truncation_size_and_digest_mismatch),
	UNIT(stats_take_reports_histograms_once),
	UNIT(stats_errors_never_exceed_requests_under_concurrent_takes),
	UNIT(conf_file_is_read_and_the_command_line_wins),
	UNIT(conf_refuses_unknown_keys_and_private_keys_naming_them),
	UNIT(conf_derives_model_dir_token_file_and_defaults_from_state_dir),
	UNIT(conf_derives_state_dir_and_token_file_from_model_dir),
	UNIT(conf_takes_cache_as_another_name_for_model_dir),
	UNIT(conf_reads_the_device_token_from_an_existing_token_file),
	UNIT(conf_accepts_an_enroll_token_alone_as_the_credential),
	UNIT(conf_reads_and_trims_the_enroll_token_file),
	UNIT(conf_refuses_a_cert_without_its_key_naming_key),
	UNIT(conf_refuses_no_credential_at_all_naming_token),
	UNIT(conf_reads_every_key_of_a_pubkey_list),
	UNIT(conf_refuses_a_pubkey_list_with_a_missing_file_naming_pubkey),
	UNIT(conf_refuses_poll_max_below_poll_min),
	UNIT(conf_refuses_a_number_out_of_range_naming_the_key),
	{0},
};

UNIT_MAIN(cases)
