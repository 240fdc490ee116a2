/*
 * test_alloc_fail.c - out-of-memory injection over the pure parsers, the
 * SQLite way (test_malloc.c): for N = 1, 2, 3, ... the Nth allocation fails
 * (once, then again with every later one failing too) while a parser reads a
 * representative input; each run must end in a clean error or the normal
 * answer, and leave no allocation behind. The sweep stops at the first N the
 * run never reaches, so N - 1 is the parser's number of allocation points.
 *
 * The binary is linked with -Wl,--wrap=malloc,... and with jansson and
 * libyaml from their static archives (see the Makefile), so every allocation
 * made by ramp's objects, jansson and libyaml comes through the wrappers
 * below; libc's own (stdio) does not.
 */
#include "common/arena.h"
#include "common/err.h"
#include "desired.h"
#include "domain/ddi.h"
#include "domain/gitops.h"
#include "domain/manifest.h"
#include "domain/otlp.h"
#include "domain/policy.h"
#include "domain/selector.h"
#include "domain/telemetry.h"
#include "domain/tuf.h"
#include "unit.h"

#include <jansson.h>

/* ---- the fault-injecting allocator ---- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t sz);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t sz);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

json_t *__real_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *e);
json_t *__wrap_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *e);

#define AF_MAX_LIVE 65536

static struct {
	bool armed;       /* counting */
	bool persist;     /* every allocation from fail_at on fails */
	long count;       /* allocations seen while armed */
	long fail_at;     /* 0: none fails */
	long nfailed;     /* injected failures in this run */
	bool in_json;     /* an injected failure fell inside json_loadb */
	size_t nlive;
	void *live[AF_MAX_LIVE]; /* every block handed out and not yet freed */
} af;

static bool af_should_fail(void)
{
	if (!af.armed)
		return false;
	af.count++;
	if (af.fail_at == 0 || af.count < af.fail_at ||
	    (af.count > af.fail_at && !af.persist))
		return false;
	af.nfailed++;
	return true;
}

static void af_track(void *p)
{
	if (p == NULL)
		return;
	if (af.nlive == AF_MAX_LIVE) {
		fprintf(stderr, "  too many live blocks to track\n");
		abort();
	}
	af.live[af.nlive++] = p;
}

/* Forgets p; false when p was not handed out here (libc's own block). */
static bool af_untrack(void *p)
{
	for (size_t i = af.nlive; i-- > 0;)
		if (af.live[i] == p) {
			af.live[i] = af.live[--af.nlive];
			return true;
		}
	return false;
}

void *__wrap_malloc(size_t n)
{
	void *p;

	if (af_should_fail())
		return NULL;
	p = __real_malloc(n);
	af_track(p);
	return p;
}

void *__wrap_calloc(size_t n, size_t sz)
{
	void *p;

	if (af_should_fail())
		return NULL;
	p = __real_calloc(n, sz);
	af_track(p);
	return p;
}

void *__wrap_realloc(void *p, size_t n)
{
	void *q;

	if (p == NULL)
		return __wrap_malloc(n);
	if (af_should_fail())
		return NULL; /* p stays valid, as realloc promises */
	q = __real_realloc(p, n);
	if (q != NULL) {
		af_untrack(p);
		af_track(q);
	}
	return q;
}

void __wrap_free(void *p)
{
	if (p != NULL)
		af_untrack(p);
	__real_free(p);
}

char *__wrap_strndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *d = __wrap_malloc(len + 1);

	if (d == NULL)
		return NULL;
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

char *__wrap_strdup(const char *s)
{
	return __wrap_strndup(s, strlen(s));
}

/* Notes whether an injected failure fell inside jansson's decoder. */
json_t *__wrap_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *e)
{
	long before = af.nfailed;
	json_t *j = __real_json_loadb(buf, len, flags, e);

	if (af.nfailed != before)
		af.in_json = true;
	return j;
}

/* ---- the sweep ---- */

/* One run of a parser over one input: everything it allocates is freed
 * before it returns. Returns the parser's code; *err says what it said. */
typedef int (*af_run_fn)(struct ramp_err *err);

/*
 * Runs fn with no failure (it must return want), then with allocation N
 * failing for N = 1.. until a run reaches no N. A failed run must return
 * RAMP_ENOMEM with err->code set to match (or, for an allocation the parser
 * can do without, want); no run may leave a block behind. A failure inside
 * json_loadb may end in any clean error (see below). Returns the number of
 * allocation points, -1 after a failed check.
 */
static long af_sweep(const char *name, af_run_fn fn, int want, bool persist)
{
	long points = -1, misreported = 0;

	for (long n = 0;; n++) {
		struct ramp_err err = {0};
		size_t live0 = af.nlive;
		int rc;

		af.armed = true;
		af.persist = persist;
		af.count = 0;
		af.fail_at = n;
		af.nfailed = 0;
		af.in_json = false;
		rc = fn(&err);
		af.armed = false;
		if (af.nlive != live0) {
			fprintf(stderr, "  %s: allocation %ld failing%s left %zu block(s)\n",
				name, n, persist ? " onwards" : "", af.nlive - live0);
			return -1;
		}
		if (n == 0) {
			if (rc != want) {
				fprintf(stderr, "  %s: returned %d without failures, want %d (%s)\n",
					name, rc, want, err.msg);
				return -1;
			}
			points = af.count;
			continue;
		}
		if (af.nfailed == 0)
			break;
		/*
		 * jansson cannot always say it ran out of memory: its lexer
		 * answers a failed string allocation with a syntax error, and
		 * drops the byte whose buffer could not grow (lex_save ignores
		 * strbuffer_append_byte's result), so with one allocation
		 * failing the text parsed is not the text given. Inside
		 * json_loadb any clean error is all a caller can get.
		 */
		if (af.in_json && rc < 0 && rc != want && rc != RAMP_ENOMEM) {
			misreported++;
			continue;
		}
		if (rc != want && (rc != RAMP_ENOMEM || err.code != RAMP_ENOMEM)) {
			fprintf(stderr, "  %s: allocation %ld failing%s: returned %d, err %d "
				"field \"%s\" \"%s\"; want %d or RAMP_ENOMEM\n",
				name, n, persist ? " onwards" : "", rc, err.code, err.field,
				err.msg, want);
			return -1;
		}
	}
	printf("# %s: %ld allocation points%s", name, points,
	       persist ? " (failing onwards)" : "");
	if (misreported)
		printf(", %ld misreported by jansson", misreported);
	printf("\n");
	return points;
}

/* Both modes; the case fails unless the parser allocates at least once. */
#define SWEEP(fn, want)                                                        \
	do {                                                                   \
		CHECK(af_sweep(#fn, fn, want, false) > 0);                     \
		CHECK(af_sweep(#fn, fn, want, true) > 0);                      \
	} while (0)

/* json_loadb as the request layer does it: OOM is RAMP_ENOMEM, else malformed. */
static int load_json(const char *text, json_t **out, struct ramp_err *err)
{
	json_error_t je;

	*out = json_loadb(text, strlen(text), 0, &je);
	if (*out != NULL)
		return 0;
	if (json_error_code(&je) == json_error_out_of_memory || je.text[0] == '\0')
		return ramp_err_set(err, RAMP_ENOMEM, "", "out of memory");
	return ramp_err_set(err, RAMP_EMALFORMED, "", "%s", je.text);
}

/* ---- the arena ---- */

static int arena_run(struct ramp_err *err)
{
	struct arena *a = arena_new();
	char big[4096];
	int rc = 0;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	if (a == NULL)
		return ramp_err_set(err, RAMP_ENOMEM, "", "out of memory");
	/* 100 rounds: the small pieces fill more than one chunk, and each big
	 * string is an allocation of its own (600 rounds made the sweep take
	 * a minute at load 30, past the case's alarm) */
	for (int i = 0; i < 100 && rc == 0; i++)
		if (arena_printf(a, "item %d", i) == NULL || arena_strdup(a, big) == NULL ||
		    arena_calloc(a, 3, 40) == NULL)
			rc = ramp_err_set(err, RAMP_ENOMEM, "", "out of memory");
	arena_free(a);
	return rc;
}

static void arena_returns_null_for_every_failed_allocation(void)
{
	SWEEP(arena_run, 0);
}

/* ---- selector ---- */

static const char *labels(void *ctx, const char *key)
{
	static const char *const kv[][2] = {
		{"region", "eu-west"}, {"tier", "canary"}, {"ram_mb", "2048"},
		{"example.com/hw", "pi4"},
	};
	(void)ctx;
	for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
		if (strcmp(kv[i][0], key) == 0)
			return kv[i][1];
	return NULL;
}

static int selector_run_text(const char *text, struct ramp_err *err)
{
	struct selector *s = NULL;
	char buf[512];
	int rc = selector_parse(text, &s, err);

	if (rc == 0) {
		if (!selector_match(s, labels, NULL) || selector_format(s, buf, sizeof(buf)) < 0)
			rc = ramp_err_set(err, RAMP_EINTERNAL, "", "matched wrongly");
		selector_free(s);
	}
	return rc;
}

static int selector_valid(struct ramp_err *err)
{
	return selector_run_text("region in (eu-west, eu-north),tier!=prod,ram_mb>1024,"
				 "example.com/hw=pi4,!legacy,tier notin (x,y,z)",
				 err);
}

static int selector_invalid(struct ramp_err *err)
{
	return selector_run_text("region in (eu-west, eu-north),tier==,", err);
}

static void selector_parse_and_match_survive_every_failed_allocation(void)
{
	SWEEP(selector_valid, 0);
	SWEEP(selector_invalid, RAMP_EINVAL);
}

/* ---- policy ---- */

static const char policy_yaml[] =
	"stages:\n"
	"  - name: canary\n"
	"    size: 0.01\n"
	"    cohort: low-traffic\n"
	"    validation_window: 30m\n"
	"    min_devices: 3\n"
	"    metrics:\n"
	"      - name: inference_latency_p50\n"
	"        threshold: < 150ms\n"
	"      - &p95\n"
	"        name: inference_latency_p95\n"
	"        threshold: < 2x baseline\n"
	"        scope: any_device\n"
	"  - name: ramp\n"
	"    size: 0.25\n"
	"    validation_window: 1h\n"
	"    stratify_by: [platform, site]\n"
	"    min_per_stratum: 2\n"
	"    metrics: [*p95]\n"
	"  - name: full\n"
	"    size: 1.0\n"
	"    validation_window: 24h\n"
	"rollback:\n"
	"  automatic: true\n"
	"  on_inconclusive: pause\n"
	"  failure_limit: 1\n";

static const char policy_json[] =
	"{\"stages\": [\n"
	" {\"name\": \"canary\", \"size\": \"1%\", \"cohort\": \"low-traffic\",\n"
	"  \"validation_window\": \"30m\", \"min_devices\": 3, \"stratify_by\": [\"site\"],\n"
	"  \"metrics\": [\n"
	"   {\"name\": \"inference_latency_p50\", \"threshold\": \"< 150ms\"},\n"
	"   {\"name\": \"error_rate\", \"threshold\": \"< 0.5%\"}]},\n"
	" {\"name\": \"full\", \"size\": 1, \"validation_window\": \"1d\"}],\n"
	" \"rollback\": {\"automatic\": true, \"on_inconclusive\": \"pause\"}}";

static struct policy pol;

static int policy_run(const char *text, enum policy_format fmt, struct ramp_err *err)
{
	int rc = policy_parse(text, strlen(text), fmt, &pol, err);

	if (rc == 0 && pol.nstages == 0)
		rc = ramp_err_set(err, RAMP_EINTERNAL, "", "no stages");
	return rc;
}

static int policy_yaml_valid(struct ramp_err *err)
{
	return policy_run(policy_yaml, POLICY_YAML, err);
}

static int policy_yaml_invalid(struct ramp_err *err)
{
	return policy_run("stages:\n  - name: a\n    size: 2\n    extra: [1, 2]\n", POLICY_YAML,
			  err);
}

static int policy_yaml_malformed(struct ramp_err *err)
{
	return policy_run("stages:\n  - name: a\n    size: [1, 2\n", POLICY_YAML, err);
}

static int policy_json_valid(struct ramp_err *err)
{
	return policy_run(policy_json, POLICY_JSON, err);
}

static int policy_json_invalid(struct ramp_err *err)
{
	return policy_run("{\"stages\": [{\"name\": \"a\", \"size\": 2}], \"x\": [1]}",
			  POLICY_JSON, err);
}

/* policy_to_json round trip: a failed allocation gives NULL, nothing leaks */
static int policy_roundtrip(struct ramp_err *err)
{
	struct policy p2;
	json_t *j;
	int rc = policy_run(policy_json, POLICY_JSON, err);

	if (rc)
		return rc;
	if ((j = policy_to_json(&pol)) == NULL)
		return ramp_err_set(err, RAMP_ENOMEM, "", "out of memory");
	rc = policy_from_json(j, &p2, err);
	json_decref(j);
	if (rc == 0 && !policy_equal(&pol, &p2))
		rc = ramp_err_set(err, RAMP_EINTERNAL, "", "round trip differs");
	return rc;
}

static void policy_parse_survives_every_failed_allocation(void)
{
	SWEEP(policy_yaml_valid, 0);
	SWEEP(policy_yaml_invalid, RAMP_EINVAL);
	SWEEP(policy_yaml_malformed, RAMP_EMALFORMED);
	SWEEP(policy_json_valid, 0);
	SWEEP(policy_json_invalid, RAMP_EINVAL);
	SWEEP(policy_roundtrip, 0);
}

/* ---- manifest ---- */

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const char manifest_yaml[] =
	"model:\n"
	"  name: invoice-ocr\n"
	"  version: '2026.01.10-rc1'\n"
	"  expires: 2027-01-01T00:00:00Z\n"
	"  variants:\n"
	"    - platform: rpi-arm64\n"
	"      file: a.tflite\n"
	"      digest: sha256:" HEX64 "\n"
	"      url: https://models.example.com/a.tflite\n"
	"      size: 1234\n"
	"      capabilities: {npu: true, ram_mb: 512}\n"
	"    - platform: cloud-x86-onnx\n"
	"      file: b.onnx\n"
	"      digest: sha256:" HEX64 "\n"
	"signatures:\n"
	"  key1: abc\n";

static const char manifest_json[] =
	"{\"model\": {\"name\": \"m\", \"version\": \"1\", \"variants\": ["
	"{\"platform\": \"a\", \"file\": \"a.bin\", \"digest\": \"sha256:" HEX64 "\","
	" \"url\": \"https://x/a.bin\", \"capabilities\": {\"gpu\": false}}]},"
	" \"signatures\": {\"k\": \"v\"}}";

static int manifest_run(const char *text, struct ramp_err *err)
{
	struct manifest m;
	int rc = manifest_parse(text, strlen(text), &m, err);

	if (rc == 0 && m.nvariants == 0)
		rc = ramp_err_set(err, RAMP_EINTERNAL, "", "no variants");
	manifest_free(&m);
	return rc;
}

static int manifest_yaml_valid(struct ramp_err *err)
{
	return manifest_run(manifest_yaml, err);
}

static int manifest_json_valid(struct ramp_err *err)
{
	return manifest_run(manifest_json, err);
}

static int manifest_invalid(struct ramp_err *err)
{
	return manifest_run("model:\n  name: m\n  version: '1'\n  variants:\n"
			    "    - platform: a\n      file: a.bin\n"
			    "      url: https://x/a\n      digest: md5:x\n",
			    err);
}

static void manifest_parse_survives_every_failed_allocation(void)
{
	SWEEP(manifest_yaml_valid, 0);
	SWEEP(manifest_json_valid, 0);
	SWEEP(manifest_invalid, RAMP_EINVAL);
}

/* ---- telemetry: a report, an array of reports, {"reports": [...]} ---- */

#define REPORT(dev)                                                            \
	"{\"device_id\": \"" dev "\", \"model\": \"m:1\", \"latency_ms\": 12.5,"       \
	" \"requests\": 100, \"errors\": 1, \"cpu_pct\": 40,"                    \
	" \"latency_hist\": {\"bounds_ms\": [10, 50, 100], \"counts\": [5, 90, 4, 1]}}"

static int telemetry_run(const char *text, struct ramp_err *err)
{
	struct telemetry_report r;
	const json_t *list, *e;
	json_t *body;
	size_t i;
	int rc = load_json(text, &body, err);

	if (rc)
		return rc;
	if (json_is_array(body))
		list = body;
	else if ((list = json_object_get(body, "reports")) == NULL)
		rc = telemetry_parse(body, 1767000000.0, &r, err);
	json_array_foreach(list, i, e) {
		if ((rc = telemetry_parse(e, 1767000000.0, &r, err)) != 0)
			break;
	}
	json_decref(body);
	return rc;
}

static int telemetry_single(struct ramp_err *err)
{
	return telemetry_run(REPORT("pi-1"), err);
}

static int telemetry_array(struct ramp_err *err)
{
	return telemetry_run("[" REPORT("pi-1") ", " REPORT("pi-2") "]", err);
}

static int telemetry_wrapped(struct ramp_err *err)
{
	return telemetry_run("{\"reports\": [" REPORT("pi-1") ", " REPORT("pi-2") "]}", err);
}

static int telemetry_invalid(struct ramp_err *err)
{
	return telemetry_run("[" REPORT("pi-1") ", {\"device_id\": \"pi-2\", \"model\": \"m:1\","
			     " \"requests\": 1, \"errors\": 2}]",
			     err);
}

static void telemetry_parse_survives_every_failed_allocation(void)
{
	SWEEP(telemetry_single, 0);
	SWEEP(telemetry_array, 0);
	SWEEP(telemetry_wrapped, 0);
	SWEEP(telemetry_invalid, RAMP_EINVAL);
}

/* ---- OTLP metrics (protobuf-c's own allocations are libprotobuf-c's,
 * outside the wrapping; the walk, the mapping and the fold are swept) ---- */

#define OTLP_NOW 1790000000.0
static const char otlp_sum_pb[] =
	"\x0a\x96\x01\x0a\x4c\x0a\x14\x0a\x09\x64\x65\x76\x69\x63\x65\x2e\x69\x64"
	"\x12\x07\x0a\x05\x63\x61\x6d\x2d\x31\x0a\x18\x0a\x0f\x72\x61\x6d\x70\x2e"
	"\x6d\x6f\x64\x65\x6c\x2e\x6e\x61\x6d\x65\x12\x05\x0a\x03\x6f\x63\x72\x0a"
	"\x1a\x0a\x12\x72\x61\x6d\x70\x2e\x6d\x6f\x64\x65\x6c\x2e\x76\x65\x72\x73"
	"\x69\x6f\x6e\x12\x04\x0a\x02\x76\x32\x12\x46\x0a\x06\x0a\x04\x74\x65\x73"
	"\x74\x12\x3c\x0a\x17\x72\x61\x6d\x70\x2e\x69\x6e\x66\x65\x72\x65\x6e\x63"
	"\x65\x2e\x72\x65\x71\x75\x65\x73\x74\x73\x3a\x21\x0a\x1b\x11\x00\x1c\xe7"
	"\xcf\x81\x5b\xd7\x18\x19\x00\x00\xf3\x23\x84\x5b\xd7\x18\x21\x00\x00\x00"
	"\x00\x00\x00\x45\x40\x10\x02\x18\x01";

static int otlp_count(void *ctx, const struct telemetry_report *r)
{
	(void)r;
	(*(int *)ctx)++;
	return 0;
}

/* Folds a decoded batch into reports (one expected) and frees it. */
static int otlp_fold(struct otlp_batch *b, int rc, struct ramp_err *err)
{
	int n = 0;

	if (rc == 0 && (rc = otlp_reports(b, b->pts, b->n, otlp_count, &n)) == RAMP_ENOMEM)
		ramp_err_set(err, RAMP_ENOMEM, "", "out of memory");
	if (rc == 0 && n != 1)
		rc = RAMP_EINTERNAL;
	otlp_batch_free(b);
	return rc;
}

static int otlp_pb_run(struct ramp_err *err)
{
	struct otlp_batch b;

	otlp_batch_init(&b, OTLP_NOW);
	return otlp_fold(&b, otlp_decode_pb((const uint8_t *)otlp_sum_pb, sizeof(otlp_sum_pb) - 1, &b, err),
			 err);
}

static int otlp_json_run(struct ramp_err *err)
{
	static const char text[] =
		"{\"resourceMetrics\":[{\"resource\":{\"attributes\":["
		"{\"key\":\"device.id\",\"value\":{\"stringValue\":\"cam-1\"}},"
		"{\"key\":\"ramp.model.name\",\"value\":{\"stringValue\":\"ocr\"}},"
		"{\"key\":\"ramp.model.version\",\"value\":{\"stringValue\":\"v2\"}}]},"
		"\"scopeMetrics\":[{\"metrics\":[{\"name\":\"ramp.inference.duration\",\"unit\":\"s\","
		"\"histogram\":{\"aggregationTemporality\":2,\"dataPoints\":[{"
		"\"startTimeUnixNano\":\"1789999990000000000\",\"timeUnixNano\":\"1790000000000000000\","
		"\"explicitBounds\":[0.01,0.1],\"bucketCounts\":[\"1\",\"2\",\"3\"]}]}},"
		"{\"name\":\"system.cpu.utilization\",\"gauge\":{\"dataPoints\":[{"
		"\"timeUnixNano\":\"1790000000000000000\",\"asDouble\":0.5}]}}]}]}]}";
	struct otlp_batch b;
	json_t *j;
	int rc = load_json(text, &j, err);

	if (rc)
		return rc;
	otlp_batch_init(&b, OTLP_NOW);
	rc = otlp_decode_json(j, &b, err);
	json_decref(j);
	return otlp_fold(&b, rc, err);
}

static void otlp_decode_survives_every_failed_allocation(void)
{
	SWEEP(otlp_pb_run, 0);
	SWEEP(otlp_json_run, 0);
}

/* ---- DDI feedback ---- */

static int ddi_run(const char *text, struct ramp_err *err)
{
	struct ddi_feedback f;
	json_t *body;
	int rc = load_json(text, &body, err);

	if (rc)
		return rc;
	rc = ddi_feedback_parse(body, &f, err);
	json_decref(body);
	return rc;
}

static int ddi_valid(struct ramp_err *err)
{
	return ddi_run("{\"id\": 7, \"time\": \"20260101T000000\", \"status\": {\"execution\":"
		       " \"closed\", \"result\": {\"progress\": {\"cnt\": 1, \"of\": 1},"
		       " \"finished\": \"failure\"}, \"details\": [\"disk full\", \"gave up\"]}}",
		       err);
}

static int ddi_invalid(struct ramp_err *err)
{
	return ddi_run("{\"status\": {\"execution\": \"closed\", \"result\": {\"finished\":"
		       " \"maybe\"}, \"details\": [\"x\"]}}",
		       err);
}

static void ddi_feedback_parse_survives_every_failed_allocation(void)
{
	SWEEP(ddi_valid, 0);
	SWEEP(ddi_invalid, RAMP_EINVAL);
}

/* ---- the agent's desired answer ---- */

#define DIGEST "sha256:" HEX64

static int desired_run(const char *text, struct ramp_err *err)
{
	struct desired d;
	int rc = desired_parse(text, strlen(text), &d, err);

	if (rc == 0 && d.n != 2)
		rc = ramp_err_set(err, RAMP_EINTERNAL, "", "wrong count");
	if (rc == 0)
		desired_free(&d);
	return rc;
}

static int desired_valid(struct ramp_err *err)
{
	return desired_run(
		"{\"device_id\":\"pi-1\",\"poll_after_s\":30,\"models\":["
		"{\"model\":\"a\",\"version\":\"1\",\"platform\":\"p\",\"file\":\"f\","
		"\"digest\":\"" DIGEST "\",\"url\":\"http://x/a\",\"size\":12,"
		"\"manifest\":\"bQ==\",\"signature\":\"c2ln\",\"key_id\":\"k\","
		"\"rollout\":{\"id\":7,\"stage\":\"canary\"},"
		"\"previous\":{\"version\":\"0\",\"digest\":\"" DIGEST "\",\"url\":\"u\"}},"
		/* held for a window with no stable version: skipped, not refused */
		"{\"model\":\"c\",\"version\":null,\"platform\":\"p\",\"rollout\":null,"
		"\"next_window_at\":\"2026-12-05T22:00:00Z\",\"pending\":{\"version\":\"1\"}},"
		"{\"model\":\"b\",\"version\":\"2\",\"platform\":\"q\",\"digest\":\"" DIGEST
		"\",\"url\":\"u\",\"manifest\":\"bQ==\",\"signature\":\"c2ln\",\"rollout\":null,"
		"\"previous\":null,\"shadow\":{\"version\":\"3\",\"digest\":\"" DIGEST "\","
		"\"url\":\"v\",\"manifest\":\"bQ==\",\"signature\":\"c2ln\",\"fraction\":0.5}}]}",
		err);
}

static int desired_invalid(struct ramp_err *err)
{
	return desired_run(
		"{\"device_id\":\"pi-1\",\"models\":["
		"{\"model\":\"a\",\"version\":\"1\",\"platform\":\"p\",\"file\":\"f\","
		"\"digest\":\"" DIGEST "\",\"url\":\"http://x/a\","
		"\"manifest\":\"bQ==\",\"signature\":\"c2ln\"},"
		"{\"model\":\"b\",\"version\":\"2\",\"platform\":\"q\",\"digest\":\"md5:x\","
		"\"url\":\"u\",\"manifest\":\"bQ==\",\"signature\":\"c2ln\"}]}",
		err);
}

static void desired_parse_survives_every_failed_allocation(void)
{
	SWEEP(desired_valid, 0);
	SWEEP(desired_invalid, RAMP_EINVAL);
}

/* ---- the harness checks itself ---- */

static void injection_fails_the_nth_allocation_and_counts_live_blocks(void)
{
	void *a, *b;

	af.armed = true;
	af.count = 0;
	af.fail_at = 2;
	af.persist = false;
	a = malloc(8);
	b = malloc(8);
	CHECK(a != NULL && b == NULL);
	b = strdup("x");
	CHECK(b != NULL);
	af.armed = false;
	CHECK_EQ_INT(af.nlive, 2);
	free(a);
	free(b);
	/* gcc assumes free() leaves globals alone: read the count afresh */
	CHECK_EQ_INT(*(volatile size_t *)&af.nlive, 0);
}


/* ---- TUF: a timestamp signed by RFC 8032's first key (signature made
 * with python's cryptography package, as in test_tuf.c), parsed and its
 * threshold checked ---- */

#define TUF_TS                                                                 \
	"{\"signed\":{\"_type\":\"timestamp\",\"spec_version\":\"1.0.31\",\"version\":3,"     \
	"\"expires\":\"2030-01-01T00:00:00Z\",\"meta\":{\"snapshot.json\":{\"version\":2}}},"   \
	"\"signatures\":[{\"keyid\":\"74c181c7ad8a0855d4b55e44d2ba87aabdddb196832571f15f92fece332e4916\"," \
	"\"sig\":\"7a8dd9d7c7a262ae73113c955956b30680f13ae3e82309e728602d4b46e65cbc"           \
	"23eb679e04f2cf9f6d403815430843bff564e001557a7422addeda627d1cab0b\"}]}"
#define TUF_KEYS                                                               \
	"{\"74c181c7ad8a0855d4b55e44d2ba87aabdddb196832571f15f92fece332e4916\":"         \
	"{\"keytype\":\"ed25519\",\"scheme\":\"ed25519\",\"keyval\":{\"public\":"             \
	"\"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a\"}}}"
#define TUF_ROLE                                                               \
	"{\"keyids\":[\"74c181c7ad8a0855d4b55e44d2ba87aabdddb196832571f15f92fece332e4916\"]," \
	"\"threshold\":1}"

static int tuf_timestamp_run(const char *text, struct ramp_err *err)
{
	json_t *doc = NULL, *keys = NULL, *role = NULL;
	int rc = tuf_parse(text, strlen(text), TUF_MAX_META, TUF_TIMESTAMP, &doc, err);

	if (rc == RAMP_EINVAL && doc == NULL && af.in_json)
		rc = ramp_err_set(err, RAMP_ENOMEM, "", "out of memory"); /* json_loadb's OOM */
	if (rc == 0)
		rc = load_json(TUF_KEYS, &keys, err);
	if (rc == 0)
		rc = load_json(TUF_ROLE, &role, err);
	if (rc == 0)
		rc = tuf_verify_role(doc, keys, role, "timestamp", err);
	json_decref(doc);
	json_decref(keys);
	json_decref(role);
	return rc;
}

static int tuf_timestamp_valid(struct ramp_err *err)
{
	return tuf_timestamp_run(TUF_TS, err);
}

static int tuf_timestamp_unsigned(struct ramp_err *err)
{
	return tuf_timestamp_run("{\"signed\":{\"_type\":\"timestamp\",\"spec_version\":\"1.0\","
				 "\"version\":3,\"expires\":\"2030-01-01T00:00:00Z\",\"meta\":"
				 "{\"snapshot.json\":{\"version\":2}}},\"signatures\":[]}", err);
}

static void tuf_parse_and_verify_survive_every_failed_allocation(void)
{
	SWEEP(tuf_timestamp_valid, 0);
	SWEEP(tuf_timestamp_unsigned, RAMP_EINVAL);
}

/* ---- the GitOps layout: policies, cohorts, releases (no keys: OpenSSL's
 * allocations are not wrapped) ---- */

static bool af_version_known(void *ctx, const char *model, const char *version)
{
	return strcmp(version, "1.10") == 0;
}

static int gitops_run(struct ramp_err *err)
{
	static const struct gitops_file f[] = {
		{"policies/fast.yaml",
		 "stages:\n  - {name: a, size: 0.5, validation_window: 1m}\n"
		 "  - {name: b, size: 1.0, validation_window: 1m}\n", 95},
		{"cohorts/north.yaml", "selector: \"site=north,age>=3\"\n", 32},
		{"releases/ocr.yaml", "version: 1.10\npolicy: fast\nselector: \"a in (x,y)\"\n", 50},
		{"releases/det.yaml",
		 "version: 1.10\nstable: 1.10\npolicy:\n  stages:\n    - {name: all, size: 1.0,"
		 " validation_window: 90s}\n", 0},
		{"README.md", "not ours", 8},
	};
	struct gitops_file files[5];
	struct gitops_lookup lk = {NULL, NULL, af_version_known, NULL, NULL};
	struct gitops_state st;
	struct gitops_err ge;
	int rc;

	memcpy(files, f, sizeof(files));
	for (size_t i = 0; i < 5; i++)
		files[i].len = strlen(files[i].data);
	rc = gitops_parse(files, 5, &lk, &st, &ge);
	if (rc == 0)
		gitops_state_free(&st);
	ramp_err_set(err, rc, ge.file, "%s", ge.reason);
	if (rc == 0)
		ramp_err_clear(err);
	return rc;
}

static void gitops_parse_survives_every_failed_allocation(void)
{
	SWEEP(gitops_run, 0);
}

static const struct unit_case cases[] = {
	UNIT(injection_fails_the_nth_allocation_and_counts_live_blocks),
	UNIT(arena_returns_null_for_every_failed_allocation),
	UNIT(selector_parse_and_match_survive_every_failed_allocation),
	UNIT(policy_parse_survives_every_failed_allocation),
	UNIT(manifest_parse_survives_every_failed_allocation),
	UNIT(telemetry_parse_survives_every_failed_allocation),
	UNIT(ddi_feedback_parse_survives_every_failed_allocation),
	UNIT(otlp_decode_survives_every_failed_allocation),
	UNIT(desired_parse_survives_every_failed_allocation),
	UNIT(tuf_parse_and_verify_survive_every_failed_allocation),
	UNIT(gitops_parse_survives_every_failed_allocation),
	{0},
};

UNIT_MAIN(cases)
