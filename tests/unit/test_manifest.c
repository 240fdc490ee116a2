/* test_manifest.c - the model manifest parser: the seed, JSON, every field error. */
#include "domain/manifest.h"
#include "common/err.h"
#include "unit.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HEAD "model:\n  name: m\n  version: '1'\n  variants:\n"
#define V0 "    - platform: a\n      file: a.bin\n      digest: sha256:" HEX64 "\n"
#define V1_ID "    -\n      platform: b\n"
#define V1_OK V1_ID "      file: b.bin\n      digest: sha256:" HEX64 "\n"

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = malloc(1 << 16);
	size_t n = 0;

	if (f == NULL || buf == NULL) {
		fprintf(stderr, "  cannot read %s (run from the repo root)\n", path);
		exit(1);
	}
	n = fread(buf, 1, (1 << 16) - 1, f);
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static int parse(const char *text, struct manifest *m, struct ramp_err *e)
{
	return manifest_parse(text, strlen(text), m, e);
}

/* The text fails with code at field, msg (when not NULL), and *m stays empty. */
static void expect_err(const char *text, int code, const char *field,
		       const char *msg)
{
	struct manifest m;
	struct ramp_err e;

	CHECK_EQ_INT(parse(text, &m, &e), code);
	CHECK_EQ_INT(e.code, code);
	CHECK_EQ_STR(e.field, field);
	if (msg != NULL)
		CHECK_EQ_STR(e.msg, msg);
	CHECK(m.variants == NULL && m.nvariants == 0 && m.signatures == NULL);
	manifest_free(&m);
}

/* Variant [1] built from lines fails at model.variants[1].<key>. */
static void expect_v1_err(const char *v1, const char *field, const char *msg)
{
	char text[8192];

	snprintf(text, sizeof(text), "%s%s", HEAD V0, v1);
	expect_err(text, RAMP_EINVAL, field, msg);
}

static void seed_example_parses_verbatim(void)
{
	struct manifest m;
	struct ramp_err e;
	size_t len;
	char *text = read_file("tests/unit/fixtures/sig/manifest.yaml", &len);

	CHECK(strncmp(text, "# example: model-manifest.yaml\n", 31) == 0);
	CHECK_EQ_INT(manifest_parse(text, len, &m, &e), 0);
	CHECK_EQ_STR(m.name, "invoice-ocr");
	CHECK_EQ_STR(m.version, "2026.01.10-rc1");
	CHECK_EQ_INT(m.expires, 0);
	CHECK_EQ_INT(m.nvariants, 2);
	CHECK_EQ_STR(m.variants[0].platform, "rpi-arm64");
	CHECK_EQ_STR(m.variants[0].file, "invoice-ocr-2026-rc1-rpi.tflite");
	CHECK_EQ_STR(m.variants[0].digest, "sha256:9f2b8c0d4e6a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c");
	CHECK_EQ_STR(m.variants[1].platform, "cloud-x86-onnx");
	CHECK_EQ_STR(m.variants[1].file, "invoice-ocr-2026-rc1.onnx");
	CHECK_EQ_STR(m.variants[1].digest, "sha256:1a3c5e7f9b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a");
	CHECK(m.variants[0].url == NULL && m.variants[1].url == NULL);
	CHECK_EQ_INT(m.variants[0].size, -1);
	CHECK(m.variants[0].capabilities == NULL);
	CHECK(json_is_object(m.signatures));
	CHECK_EQ_STR(json_string_value(json_object_get(m.signatures, "cosign")),
		     "https://signature.example.com/sig");
	manifest_free(&m);
	CHECK(m.variants == NULL && m.signatures == NULL);
	free(text);
}

static void json_form_parses_every_field(void)
{
	const char *text =
		"  {\"model\": {\"name\": \"det\", \"version\": \"3.1.4+build.7\","
		" \"expires\": \"2027-01-10T00:00:00Z\", \"variants\": ["
		"{\"platform\": \"jetson\", \"file\": \"det.engine\","
		" \"digest\": \"sha256:" HEX64 "\", \"url\": \"https://m.example.com/det\","
		" \"size\": 123456, \"capabilities\": {\"fp16\": true, \"ram_mb\": 512}}]},"
		" \"signatures\": {\"cosign\": \"x\"}}";
	struct manifest m;
	struct ramp_err e;

	CHECK_EQ_INT(parse(text, &m, &e), 0);
	CHECK_EQ_STR(m.name, "det");
	CHECK_EQ_STR(m.version, "3.1.4+build.7");
	CHECK_EQ_INT(m.expires, 1799539200);
	CHECK_EQ_INT(m.nvariants, 1);
	CHECK_EQ_STR(m.variants[0].url, "https://m.example.com/det");
	CHECK_EQ_INT(m.variants[0].size, 123456);
	CHECK(json_is_true(json_object_get(m.variants[0].capabilities, "fp16")));
	CHECK_EQ_INT(json_integer_value(json_object_get(m.variants[0].capabilities, "ram_mb")), 512);
	CHECK_EQ_STR(json_string_value(json_object_get(m.signatures, "cosign")), "x");
	manifest_free(&m);
}

static void yaml_optional_fields_are_typed(void)
{
	const char *text = HEAD V0
		"      url: http://cdn.example.com/a.bin\n"
		"      size: 9007199254740992\n"
		"      capabilities:\n        fp16: true\n        ram_mb: 512\n"
		"        ratio: 1.5\n        accel: npu\n        tag: '512'\n";
	struct manifest m;
	struct ramp_err e;
	json_t *caps;

	CHECK_EQ_INT(parse(text, &m, &e), 0);
	CHECK_EQ_STR(m.variants[0].url, "http://cdn.example.com/a.bin");
	CHECK_EQ_INT(m.variants[0].size, 9007199254740992LL);
	caps = m.variants[0].capabilities;
	CHECK(json_is_true(json_object_get(caps, "fp16")));
	CHECK_EQ_INT(json_integer_value(json_object_get(caps, "ram_mb")), 512);
	CHECK_NEAR(json_real_value(json_object_get(caps, "ratio")), 1.5, 0);
	CHECK_EQ_STR(json_string_value(json_object_get(caps, "accel")), "npu");
	CHECK_EQ_STR(json_string_value(json_object_get(caps, "tag")), "512");
	CHECK(m.signatures == NULL);
	manifest_free(&m);
}

static void yaml_plain_numbers_stay_text_in_string_fields(void)
{
	const char *text = "model:\n  name: 123\n  version: 1.10\n  variants:\n"
			   "    - platform: true\n      file: 007\n"
			   "      digest: sha256:" HEX64 "\n";
	struct manifest m;
	struct ramp_err e;

	CHECK_EQ_INT(parse(text, &m, &e), 0);
	CHECK_EQ_STR(m.name, "123");
	CHECK_EQ_STR(m.version, "1.10");
	CHECK_EQ_STR(m.variants[0].platform, "true");
	CHECK_EQ_STR(m.variants[0].file, "007");
	manifest_free(&m);
}

static void variant_for_finds_platform(void)
{
	struct manifest m;
	struct ramp_err e;

	CHECK_EQ_INT(parse(HEAD V0 V1_OK, &m, &e), 0);
	CHECK(manifest_variant_for(&m, "b") == &m.variants[1]);
	CHECK(manifest_variant_for(&m, "a") == &m.variants[0]);
	CHECK(manifest_variant_for(&m, "c") == NULL);
	CHECK(manifest_variant_for(&m, NULL) == NULL);
	CHECK(manifest_variant_for(NULL, "a") == NULL);
	manifest_free(&m);
	manifest_free(NULL);
}

static void name_syntax_is_enforced(void)
{
	char long_name[80];

	CHECK(manifest_name_valid("invoice-ocr"));
	CHECK(manifest_name_valid("0a._-z"));
	CHECK(!manifest_name_valid(""));
	CHECK(!manifest_name_valid(NULL));
	CHECK(!manifest_name_valid("Invoice"));
	CHECK(!manifest_name_valid("-lead"));
	CHECK(!manifest_name_valid(".lead"));
	CHECK(!manifest_name_valid("a b"));
	CHECK(!manifest_name_valid("a/b"));
	memset(long_name, 'a', 63);
	long_name[63] = '\0';
	CHECK(manifest_name_valid(long_name));
	long_name[63] = 'a';
	long_name[64] = '\0';
	CHECK(!manifest_name_valid(long_name));
}

static int64_t expires_of(const char *ts, int *rc)
{
	char text[1024];
	struct manifest m;
	struct ramp_err e;
	int64_t t;

	snprintf(text, sizeof(text), "model:\n  name: m\n  version: '1'\n"
		 "  expires: %s\n  variants:\n" V0, ts);
	*rc = parse(text, &m, &e);
	if (*rc != 0)
		CHECK_EQ_STR(e.field, "model.expires");
	t = m.expires;
	manifest_free(&m);
	return t;
}

static void expires_parses_utc_and_offsets(void)
{
	int rc;

	CHECK_EQ_INT(expires_of("2027-01-10T00:00:00Z", &rc), 1799539200);
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_INT(expires_of("2027-01-10T00:00:00+02:00", &rc), 1799532000);
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_INT(expires_of("'2027-01-10T00:00:00-05:30'", &rc), 1799559000);
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_INT(expires_of("2027-01-10T00:00:00.750Z", &rc), 1799539200);
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_INT(expires_of("2028-02-29T00:00:00Z", &rc), 1835395200);
	CHECK_EQ_INT(rc, 0);
}

static void expires_rejects_non_rfc3339(void)
{
	static const char *const bad[] = {
		"2027-01-10", "2027-01-10T00:00:00", "2027-02-29T00:00:00Z",
		"2027-13-01T00:00:00Z", "2027-01-10T24:00:00Z",
		"2027-01-10T00:00:00+2:00", "2027-01-10 00:00:00Z",
		"2027-01-10T00:00:00.Z", "1969-12-31T23:59:59Z", "1799539200",
		"2027-01-10T00:00:00Zjunk", "",
	};
	int rc;

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		expires_of(bad[i], &rc);
		if (rc != RAMP_EINVAL)
			fprintf(stderr, "  accepted expires \"%s\"\n", bad[i]);
		CHECK_EQ_INT(rc, RAMP_EINVAL);
	}
}

static void model_field_errors_name_their_path(void)
{
	char text[1024], v[300];

	expect_err("signatures: {}\n", RAMP_EINVAL, "model", "is required");
	expect_err("model: []\n", RAMP_EINVAL, "model", "must be a mapping");
	expect_err("model:\n  version: '1'\n  variants:\n" V0, RAMP_EINVAL,
		   "model.name", "is required");
	expect_err("model:\n  name: Invoice\n  version: '1'\n  variants:\n" V0,
		   RAMP_EINVAL, "model.name", NULL);
	expect_err("{\"model\": {\"name\": 7, \"version\": \"1\"}}", RAMP_EINVAL,
		   "model.name", "must be a string");
	expect_err("model:\n  name: m\n  variants:\n" V0, RAMP_EINVAL,
		   "model.version", "is required");
	expect_err("model:\n  name: m\n  version: -rc1\n  variants:\n" V0,
		   RAMP_EINVAL, "model.version", NULL);
	memset(v, 'v', 129);
	v[129] = '\0';
	snprintf(text, sizeof(text), "model:\n  name: m\n  version: %s\n  variants:\n" V0, v);
	expect_err(text, RAMP_EINVAL, "model.version", NULL);
	expect_err("model:\n  name: m\n  version: '1'\n", RAMP_EINVAL,
		   "model.variants", "is required");
	expect_err("model:\n  name: m\n  version: '1'\n  variants: []\n",
		   RAMP_EINVAL, "model.variants", "must list at least one variant");
	expect_err("model:\n  name: m\n  version: '1'\n  variants: {}\n",
		   RAMP_EINVAL, "model.variants", "must be a list");
	expect_err(HEAD "    - just-a-string\n", RAMP_EINVAL,
		   "model.variants[0]", "must be a mapping");
	expect_err(HEAD V0 "signatures: [a]\n", RAMP_EINVAL, "signatures",
		   "must be a mapping");
}

static void version_at_128_characters_is_accepted(void)
{
	char text[1024], v[200];
	struct manifest m;
	struct ramp_err e;

	memset(v, 'v', 128);
	v[128] = '\0';
	snprintf(text, sizeof(text), "model:\n  name: m\n  version: %s\n  variants:\n" V0, v);
	CHECK_EQ_INT(parse(text, &m, &e), 0);
	CHECK_EQ_INT(strlen(m.version), 128);
	manifest_free(&m);
}

static void variant_field_errors_name_their_path(void)
{
	char v1[4096], big[3000];

	expect_v1_err("    -\n      file: b.bin\n", "model.variants[1].platform", "is required");
	expect_v1_err("    -\n      platform: B\n", "model.variants[1].platform", NULL);
	expect_v1_err(V1_ID "      digest: sha256:" HEX64 "\n", "model.variants[1].file", "is required");
	expect_v1_err(V1_ID "      file: dir/b.bin\n", "model.variants[1].file", "must not contain '/'");
	expect_v1_err(V1_ID "      file: ..\n", "model.variants[1].file", "must not be \".\" or \"..\"");
	expect_v1_err(V1_ID "      file: .\n", "model.variants[1].file", "must not be \".\" or \"..\"");
	expect_v1_err(V1_ID "      file: ''\n", "model.variants[1].file", "must be 1 to 255 characters");
	expect_v1_err(V1_ID "      file: \"a\\0b\"\n", "model.variants[1].file", "must not contain a nul byte");
	memset(big, 'f', 256);
	big[256] = '\0';
	snprintf(v1, sizeof(v1), V1_ID "      file: %s\n", big);
	expect_v1_err(v1, "model.variants[1].file", "must be 1 to 255 characters");
	expect_v1_err(V1_ID "      file: b\n", "model.variants[1].digest", "is required");
	expect_v1_err(V1_OK "      url: ftp://x/b\n", "model.variants[1].url", "must be an http:// or https:// url");
	expect_v1_err(V1_OK "      url: https://\n", "model.variants[1].url", "must be an http:// or https:// url");
	expect_v1_err(V1_OK "      url: \"https://a.example/b c\"\n", "model.variants[1].url", "must be an http:// or https:// url");
	memset(big, 'u', 2041);
	big[2041] = '\0';
	snprintf(v1, sizeof(v1), V1_OK "      url: https://%s\n", big);
	expect_v1_err(v1, "model.variants[1].url", "must be at most 2048 characters");
	expect_v1_err(V1_OK "      size: -1\n", "model.variants[1].size", "must be a non-negative integer");
	expect_v1_err(V1_OK "      size: 1.5\n", "model.variants[1].size", "must be a non-negative integer");
	expect_v1_err(V1_OK "      size: '12'\n", "model.variants[1].size", "must be a non-negative integer");
	expect_v1_err(V1_OK "      size: 9007199254740993\n", "model.variants[1].size", "must be at most 9007199254740992");
	expect_v1_err(V1_OK "      capabilities: [a]\n", "model.variants[1].capabilities", "must be a mapping");
	expect_v1_err(V1_OK "      capabilities:\n        ops: [conv]\n",
		      "model.variants[1].capabilities.ops", "must be a string, number or boolean");
}

static void url_at_2048_characters_is_accepted(void)
{
	char text[4096], big[2100];
	struct manifest m;
	struct ramp_err e;

	memset(big, 'u', 2040);
	big[2040] = '\0';
	snprintf(text, sizeof(text), HEAD V0 "      url: https://%s\n", big);
	CHECK_EQ_INT(parse(text, &m, &e), 0);
	CHECK_EQ_INT(strlen(m.variants[0].url), 2048);
	manifest_free(&m);
}

static void digest_must_be_canonical_sha256(void)
{
	const char *msg = "not a canonical sha256 digest";

	expect_v1_err(V1_ID "      file: b\n      digest: sha256:"
		      "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\n",
		      "model.variants[1].digest", msg);
	expect_v1_err(V1_ID "      file: b\n      digest: sha512:" HEX64 "\n",
		      "model.variants[1].digest", msg);
	expect_v1_err(V1_ID "      file: b\n      digest: sha256:" HEX64 "0\n",
		      "model.variants[1].digest", msg);
	expect_v1_err(V1_ID "      file: b\n      digest: " HEX64 "\n",
		      "model.variants[1].digest", msg);
	expect_v1_err(V1_ID "      file: b\n      digest: SHA256:" HEX64 "\n",
		      "model.variants[1].digest", msg);
}

static void duplicate_platform_is_rejected(void)
{
	expect_err(HEAD V0 "    - platform: a\n      file: c\n      digest: sha256:" HEX64 "\n",
		   RAMP_EINVAL, "model.variants[1].platform",
		   "duplicate platform \"a\" (also model.variants[0])");
}

static void unknown_keys_are_rejected(void)
{
	expect_err(HEAD V0 "owner: me\n", RAMP_EINVAL, "owner", "unknown field");
	expect_err("model:\n  name: m\n  owner: me\n", RAMP_EINVAL,
		   "model.owner", "unknown field");
	expect_v1_err(V1_OK "      sha: x\n", "model.variants[1].sha", "unknown field");
	expect_err("{\"model\": {\"name\": \"m\", \"Name\": \"m\"}}", RAMP_EINVAL,
		   "model.Name", "unknown field");
}

static void variant_count_is_capped_at_64(void)
{
	char text[32768];
	size_t off = 0;
	struct manifest m;
	struct ramp_err e;

	off += snprintf(text + off, sizeof(text) - off, HEAD);
	for (int i = 0; i < 65; i++) {
		if (i == 64) {
			CHECK_EQ_INT(parse(text, &m, &e), 0);
			CHECK_EQ_INT(m.nvariants, 64);
			CHECK_EQ_STR(m.variants[63].platform, "p63");
			manifest_free(&m);
		}
		off += snprintf(text + off, sizeof(text) - off,
				"    - {platform: p%d, file: f, digest: 'sha256:" HEX64 "'}\n", i);
	}
	expect_err(text, RAMP_EINVAL, "model.variants", "must list at most 64 variants");
}

static void yaml_aliases_and_anchors_are_rejected(void)
{
	expect_err("a: &a [x, x]\nb: *a\n", RAMP_EMALFORMED, "",
		   "yaml: anchors and aliases are not supported at line 1");
	expect_err(HEAD "    - &v {platform: a, file: f, digest: 'sha256:" HEX64 "'}\n    - *v\n",
		   RAMP_EMALFORMED, "", NULL);
}

static void yaml_extra_documents_and_tags_are_rejected(void)
{
	expect_err(HEAD V0 "---\nmodel: {}\n", RAMP_EMALFORMED, "",
		   "yaml: more than one document at line 8");
	expect_err("model: !!binary aGVsbG8=\n", RAMP_EMALFORMED, "",
		   "yaml: tags are not supported at line 1");
}

static void duplicate_keys_are_malformed(void)
{
	expect_err("model: {}\nmodel: {}\n", RAMP_EMALFORMED, "",
		   "yaml: duplicate key \"model\" at line 2");
	expect_err("{\"model\": {}, \"model\": {}}", RAMP_EMALFORMED, "", NULL);
}

static void malformed_text_is_emalformed(void)
{
	struct manifest m;
	struct ramp_err e;

	expect_err("model: [unclosed\n", RAMP_EMALFORMED, "", NULL);
	expect_err("model:\n  name: m\n name: x\n", RAMP_EMALFORMED, "", NULL);
	CHECK_EQ_INT(parse(" \n{\"model\": ", &m, &e), RAMP_EMALFORMED);
	CHECK(strncmp(e.msg, "json: ", 6) == 0);
	expect_err("", RAMP_EMALFORMED, "", "document is empty");
	expect_err("# only a comment\n", RAMP_EMALFORMED, "", "document is empty");
	expect_err("just a scalar\n", RAMP_EINVAL, "", "manifest must be a mapping");
	expect_err("[1, 2]", RAMP_EINVAL, "", "manifest must be a mapping");
	CHECK_EQ_INT(manifest_parse("model:\0x", 8, &m, &e), RAMP_EMALFORMED);
}

static void deep_yaml_nesting_is_rejected(void)
{
	char text[512];
	size_t off = 0;

	off += snprintf(text, sizeof(text), "signatures: ");
	for (int i = 0; i < 70; i++)
		off += snprintf(text + off, sizeof(text) - off, "[");
	expect_err(text, RAMP_EMALFORMED, "", "yaml: nesting is too deep at line 1");
}

static void oversized_body_is_rejected(void)
{
	size_t len = MANIFEST_MAX_BYTES + 1;
	char *text = malloc(len);
	struct manifest m;
	struct ramp_err e;

	memset(text, ' ', len);
	CHECK_EQ_INT(manifest_parse(text, len, &m, &e), RAMP_ETOOBIG);
	CHECK_EQ_STR(e.msg, "manifest is larger than 1048576 bytes");
	free(text);
}

static void failure_after_allocations_leaves_nothing(void)
{
	/* variant [0] allocates url and capabilities before [1] fails */
	expect_err(HEAD "    - platform: a\n      file: a\n      digest: sha256:" HEX64 "\n"
		   "      url: https://x.example\n      capabilities: {a: 1}\n"
		   V1_ID "      file: b\n      digest: nope\n",
		   RAMP_EINVAL, "model.variants[1].digest", "not a canonical sha256 digest");
}

static const struct unit_case cases[] = {
	UNIT(seed_example_parses_verbatim),
	UNIT(json_form_parses_every_field),
	UNIT(yaml_optional_fields_are_typed),
	UNIT(yaml_plain_numbers_stay_text_in_string_fields),
	UNIT(variant_for_finds_platform),
	UNIT(name_syntax_is_enforced),
	UNIT(expires_parses_utc_and_offsets),
	UNIT(expires_rejects_non_rfc3339),
	UNIT(model_field_errors_name_their_path),
	UNIT(version_at_128_characters_is_accepted),
	UNIT(variant_field_errors_name_their_path),
	UNIT(url_at_2048_characters_is_accepted),
	UNIT(digest_must_be_canonical_sha256),
	UNIT(duplicate_platform_is_rejected),
	UNIT(unknown_keys_are_rejected),
	UNIT(variant_count_is_capped_at_64),
	UNIT(yaml_aliases_and_anchors_are_rejected),
	UNIT(yaml_extra_documents_and_tags_are_rejected),
	UNIT(duplicate_keys_are_malformed),
	UNIT(malformed_text_is_emalformed),
	UNIT(deep_yaml_nesting_is_rejected),
	UNIT(oversized_body_is_rejected),
	UNIT(failure_after_allocations_leaves_nothing),
	{0},
};
UNIT_MAIN(cases)
