/*
 * test_gitops.c - the GitOps repository layout parser (domain/gitops.c):
 * a good commit's intended state, and each way a commit is refused naming
 * the file, the line and the reason. Keys, manifest and signature are the
 * openssl-made fixtures of test_sig.c.
 */
#include "domain/gitops.h"

#include "unit.h"

#define FIX "tests/unit/fixtures/sig/"
#define MODEL "models/invoice-ocr/2026.01.10-rc1.yaml"

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = malloc(1 << 20);
	size_t n = f && buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;

	if (f)
		fclose(f);
	if (buf)
		buf[n] = '\0';
	*len = n;
	return buf;
}

static const char POLICY[] = "stages:\n"
			     "  - name: canary\n"
			     "    size: 0.1\n"
			     "    validation_window: 1h\n"
			     "  - name: full\n"
			     "    size: 1.0\n"
			     "    validation_window: 1h\n";

struct repo {
	struct gitops_file f[16];
	size_t n;
	char *pub, *manifest, *sig;
};

static void add(struct repo *r, const char *path, const char *data, size_t len)
{
	r->f[r->n].path = path;
	r->f[r->n].data = data;
	r->f[r->n].len = len;
	r->n++;
}

static void add_s(struct repo *r, const char *path, const char *data)
{
	add(r, path, data, strlen(data));
}

/* keys/, the signed manifest, a policy, a cohort, a release and a README. */
static void good_repo(struct repo *r)
{
	size_t len;

	memset(r, 0, sizeof(*r));
	r->pub = read_file(FIX "ed25519.pub", &len);
	add(r, "keys/ci-2026.pub", r->pub, len);
	r->manifest = read_file(FIX "manifest.yaml", &len);
	add(r, MODEL, r->manifest, len);
	r->sig = read_file(FIX "manifest.yaml.ed25519.sig", &len);
	add(r, MODEL ".sig", r->sig, len);
	add_s(r, "policies/fast.yaml", POLICY);
	add_s(r, "cohorts/north.yaml", "selector: \"site=north,age_days>=365\"\n");
	add_s(r, "releases/invoice-ocr.yaml", "version: 2026.01.10-rc1\npolicy: fast\n"
					      "selector: \"site=north\"\n");
	add_s(r, "README.md", "not ours\n");
}

static void repo_free(struct repo *r)
{
	free(r->pub);
	free(r->manifest);
	free(r->sig);
}

/* Replaces the file at path (or adds it). */
static void put(struct repo *r, const char *path, const char *data)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->f[i].path, path) == 0) {
			r->f[i].data = data;
			r->f[i].len = strlen(data);
			return;
		}
	add_s(r, path, data);
}

static void drop(struct repo *r, const char *path)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->f[i].path, path) == 0) {
			r->f[i] = r->f[--r->n];
			return;
		}
}

static int parse(struct repo *r, struct gitops_err *e)
{
	struct gitops_state st;
	int rc = gitops_parse(r->f, r->n, NULL, &st, e);

	gitops_state_free(&st);
	return rc;
}

static void good_layout_gives_the_intended_state(void)
{
	struct repo r;
	struct gitops_state st;
	struct gitops_err e;

	good_repo(&r);
	CHECK_EQ_INT(gitops_parse(r.f, r.n, NULL, &st, &e), 0);
	CHECK_EQ_INT(st.nkeys, 1);
	CHECK_EQ_STR(st.keys[0].id, "ci-2026");
	CHECK_EQ_INT(st.nmanifests, 1);
	CHECK_EQ_STR(st.manifests[0].m.name, "invoice-ocr");
	CHECK_EQ_STR(st.manifests[0].key_id, "ci-2026"); /* found by trying keys/ */
	CHECK_EQ_INT(st.manifests[0].len, strlen(r.manifest));
	CHECK_EQ_INT(st.npolicies, 1);
	CHECK_EQ_INT(st.policies[0].p->nstages, 2);
	CHECK_EQ_STR(st.policies[0].source, POLICY);
	CHECK_EQ_INT(st.ncohorts, 1);
	CHECK_EQ_STR(st.cohorts[0].selector, "site=north,age_days>=365");
	CHECK_EQ_INT(st.nreleases, 1);
	CHECK_EQ_STR(st.releases[0].model, "invoice-ocr");
	CHECK_EQ_STR(st.releases[0].version, "2026.01.10-rc1");
	CHECK_EQ_STR(st.releases[0].policy_name, "fast");
	CHECK(st.releases[0].policy == st.policies[0].p);
	CHECK_EQ_STR(st.releases[0].selector, "site=north");
	CHECK(st.releases[0].stable == NULL);
	CHECK_EQ_INT(strlen(st.releases[0].digest), 64);
	gitops_state_free(&st);
	gitops_state_free(&st); /* emptied: a second free is harmless */
	repo_free(&r);
}

static void tampered_manifest_names_the_file(void)
{
	struct repo r;
	struct gitops_err e;
	char *t;

	good_repo(&r);
	t = strdup(r.manifest);
	strstr(t, "rpi.tflite")[2] = 'j'; /* still a good manifest, not the signed bytes */
	put(&r, MODEL, t);
	CHECK_EQ_INT(parse(&r, &e), RAMP_EINVAL);
	CHECK_EQ_STR(e.file, MODEL);
	CHECK(strstr(e.reason, "does not verify") != NULL);
	free(t);
	repo_free(&r);
}

static void named_key_must_exist_and_verify(void)
{
	struct repo r;
	struct gitops_err e;

	good_repo(&r);
	put(&r, MODEL ".key_id", "nobody\n");
	CHECK_EQ_INT(parse(&r, &e), RAMP_EINVAL);
	CHECK_EQ_STR(e.file, MODEL);
	CHECK(strstr(e.reason, "unknown signing key nobody") != NULL);
	put(&r, MODEL ".key_id", "ci-2026\n");
	CHECK_EQ_INT(parse(&r, &e), 0);
	drop(&r, MODEL ".sig");
	CHECK_EQ_INT(parse(&r, &e), RAMP_EINVAL);
	CHECK(strstr(e.reason, "no signature beside it") != NULL);
	repo_free(&r);
}

static void manifest_must_sit_under_its_name_and_version(void)
{
	struct repo r;
	struct gitops_err e;

	good_repo(&r);
	r.f[1].path = "models/other/2026.01.10-rc1.yaml";
	r.f[2].path = "models/other/2026.01.10-rc1.yaml.sig";
	drop(&r, "releases/invoice-ocr.yaml");
	CHECK_EQ_INT(parse(&r, &e), RAMP_EINVAL);
	CHECK_EQ_STR(e.file, "models/other/2026.01.10-rc1.yaml");
	CHECK(strstr(e.reason, "model.name is invoice-ocr") != NULL);
	CHECK(e.line > 1);
	repo_free(&r);
}

static void policy_error_names_file_line_and_field(void)
{
	struct repo r;
	struct gitops_err e;

	good_repo(&r);
	put(&r, "policies/fast.yaml", "stages:\n  - name: canary\n    size: 0.5\n"
				      "    validation_window: 1h\n  - name: full\n    size: 0.25\n"
				      "    validation_window: 1h\n");
	CHECK_EQ_INT(parse(&r, &e), RAMP_EINVAL);
	CHECK_EQ_STR(e.file, "policies/fast.yaml");
	CHECK_EQ_INT(e.line, 6);
	CHECK(strstr(e.reason, "stages[1].size") != NULL);
	put(&r, "policies/fast.yaml", "stages: [\n");
	CHECK_EQ_INT(parse(&r, &e), RAMP_EINVAL);
	CHECK(e.line >= 1);
	repo_free(&r);
}

static void release_needs_a_known_version_and_policy(void)
{
	struct repo r;
	struct gitops_err e;

	good_repo(&r);
	put(&r, "releases/invoice-ocr.yaml", "version: 9.9\npolicy: fast\n");
	CHECK_EQ_INT(parse(&r, &e), RAMP_EINVAL);
	CHECK_EQ_STR(e.file, "releases/invoice-ocr.yaml");
	CHECK_EQ_INT(e.line, 1);
	CHECK(strstr(e.reason, "unknown version 9.9") != NULL);
	put(&r, "releases/invoice-ocr.yaml", "version: 2026.01.10-rc1\npolicy: missing\n");
	CHECK_EQ_INT(parse(&r, &e), RAMP_EINVAL);
	CHECK_EQ_INT(e.line, 2);
	CHECK(strstr(e.reason, "no policy named missing") != NULL);
	put(&r, "releases/invoice-ocr.yaml", "version: 2026.01.10-rc1\npolicy: fast\nextra: 1\n");
	CHECK_EQ_INT(parse(&r, &e), RAMP_EINVAL);
	CHECK(strstr(e.reason, "extra") != NULL);
	put(&r, "releases/invoice-ocr.yaml", "version: 2026.01.10-rc1\npolicy: fast\nselector: \"a in (\"\n");
	CHECK_EQ_INT(parse(&r, &e), RAMP_EINVAL);
	CHECK_EQ_INT(e.line, 3);
	put(&r, "releases/invoice-ocr.yaml", "version: 2026.01.10-rc1\n");
	CHECK_EQ_INT(parse(&r, &e), RAMP_EINVAL);
	CHECK(strstr(e.reason, "policy is required") != NULL);
	repo_free(&r);
}

static bool any_version(void *ctx, const char *model, const char *version)
{
	return strcmp(version, "1.10") == 0;
}

static void inline_policy_and_versions_stay_text(void)
{
	struct repo r;
	struct gitops_state st;
	struct gitops_err e;
	struct gitops_lookup lk = {NULL, NULL, any_version, NULL, NULL};

	good_repo(&r);
	put(&r, "releases/invoice-ocr.yaml",
	    "version: 1.10\nstable: 1.10\npolicy:\n  stages:\n    - name: all\n      size: 1.0\n"
	    "      validation_window: 90s\n");
	CHECK_EQ_INT(gitops_parse(r.f, r.n, &lk, &st, &e), 0);
	CHECK_EQ_STR(st.releases[0].version, "1.10"); /* not 1.1 */
	CHECK_EQ_STR(st.releases[0].stable, "1.10");
	CHECK(st.releases[0].policy_name == NULL && st.releases[0].own_policy);
	CHECK_EQ_INT(st.releases[0].policy->stages[0].window_s, 90);
	gitops_state_free(&st);
	put(&r, "releases/invoice-ocr.yaml",
	    "version: 1.10\npolicy:\n  stages:\n    - name: all\n      size: 2\n"
	    "      validation_window: 90s\n");
	CHECK_EQ_INT(gitops_parse(r.f, r.n, &lk, &st, &e), RAMP_EINVAL);
	CHECK(strstr(e.reason, "policy.stages[0].size") != NULL);
	CHECK_EQ_INT(e.line, 5);
	repo_free(&r);
}

static void unexpected_files_in_our_folders_are_refused(void)
{
	struct repo r;
	struct gitops_err e;

	good_repo(&r);
	add_s(&r, "policies/sub/x.yaml", POLICY);
	CHECK_EQ_INT(parse(&r, &e), RAMP_EINVAL);
	CHECK_EQ_STR(e.file, "policies/sub/x.yaml");
	drop(&r, "policies/sub/x.yaml");
	add_s(&r, "keys/readme.txt", "x");
	CHECK_EQ_INT(parse(&r, &e), RAMP_EINVAL);
	drop(&r, "keys/readme.txt");
	add_s(&r, "keys/rsa.pub", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
	CHECK_EQ_INT(parse(&r, &e), RAMP_EINVAL);
	CHECK_EQ_STR(e.file, "keys/rsa.pub");
	drop(&r, "keys/rsa.pub");
	add_s(&r, "cohorts/Bad Name.yaml", "selector: a\n");
	CHECK_EQ_INT(parse(&r, &e), RAMP_EINVAL);
	repo_free(&r);
}

static void entries_with_dot_dot_links_or_size_are_refused(void)
{
	struct gitops_err e;

	CHECK_EQ_INT(gitops_entry_check("policies/a.yaml", GITOPS_MODE_BLOB, 10, &e), 0);
	CHECK_EQ_INT(gitops_entry_check("policies/a.yaml", GITOPS_MODE_EXEC, 10, &e), 0);
	CHECK_EQ_INT(gitops_entry_check("policies/..", GITOPS_MODE_BLOB, 10, &e), RAMP_EINVAL);
	CHECK_EQ_STR(e.file, "policies/..");
	CHECK_EQ_INT(gitops_entry_check("../x", GITOPS_MODE_BLOB, 10, &e), RAMP_EINVAL);
	CHECK_EQ_INT(gitops_entry_check("a/./b", GITOPS_MODE_BLOB, 10, &e), RAMP_EINVAL);
	CHECK_EQ_INT(gitops_entry_check("a//b", GITOPS_MODE_BLOB, 10, &e), RAMP_EINVAL);
	CHECK_EQ_INT(gitops_entry_check("/etc/passwd", GITOPS_MODE_BLOB, 10, &e), RAMP_EINVAL);
	CHECK_EQ_INT(gitops_entry_check("a\\..\\b", GITOPS_MODE_BLOB, 10, &e), RAMP_EINVAL);
	CHECK_EQ_INT(gitops_entry_check("a\nb", GITOPS_MODE_BLOB, 10, &e), RAMP_EINVAL);
	CHECK_EQ_INT(gitops_entry_check("", GITOPS_MODE_BLOB, 10, &e), RAMP_EINVAL);
	CHECK_EQ_INT(gitops_entry_check("policies/l.yaml", GITOPS_MODE_LINK, 10, &e), RAMP_EINVAL);
	CHECK(strstr(e.reason, "symbolic links") != NULL);
	CHECK_EQ_INT(gitops_entry_check("models/sub", GITOPS_MODE_COMMIT, 0, &e), RAMP_EINVAL);
	CHECK_EQ_INT(gitops_entry_check("policies/big.yaml", GITOPS_MODE_BLOB,
					GITOPS_MAX_FILE_BYTES + 1, &e),
		     RAMP_ETOOBIG);
	CHECK_EQ_INT(gitops_entry_check("policies/ok.yaml", GITOPS_MODE_BLOB, GITOPS_MAX_FILE_BYTES,
					&e),
		     0);
}

static void too_many_files_are_refused(void)
{
	struct gitops_file *f = calloc(GITOPS_MAX_FILES + 1, sizeof(*f));
	struct gitops_state st;
	struct gitops_err e;

	for (size_t i = 0; i <= GITOPS_MAX_FILES; i++)
		f[i].path = "README.md", f[i].data = "", f[i].len = 0;
	CHECK_EQ_INT(gitops_parse(f, GITOPS_MAX_FILES + 1, NULL, &st, &e), RAMP_ETOOBIG);
	CHECK_EQ_INT(gitops_parse(f, GITOPS_MAX_FILES, NULL, &st, &e), 0);
	gitops_state_free(&st);
	free(f);
}

static void line_of_follows_keys_and_items(void)
{
	const char *t = "# head\nmodel:\n  name: a\n  variants:\n    - platform: x\n"
			"      digest: d\n    - platform: y\n      digest: e\nstages:\n"
			"  - {name: q}\n";

	CHECK_EQ_INT(gitops_line_of(t, strlen(t), "model"), 2);
	CHECK_EQ_INT(gitops_line_of(t, strlen(t), "model.name"), 3);
	CHECK_EQ_INT(gitops_line_of(t, strlen(t), "model.variants[0].platform"), 5);
	CHECK_EQ_INT(gitops_line_of(t, strlen(t), "model.variants[1].digest"), 8);
	CHECK_EQ_INT(gitops_line_of(t, strlen(t), "model.variants[1]"), 7);
	CHECK_EQ_INT(gitops_line_of(t, strlen(t), "stages[0]"), 10);
	CHECK_EQ_INT(gitops_line_of(t, strlen(t), "nothing"), 0);
	CHECK_EQ_INT(gitops_line_of(t, strlen(t), ""), 0);
	CHECK_EQ_INT(gitops_line_of(NULL, 0, "a"), 0);
}

static const struct unit_case cases[] = {
	UNIT(good_layout_gives_the_intended_state),
	UNIT(tampered_manifest_names_the_file),
	UNIT(named_key_must_exist_and_verify),
	UNIT(manifest_must_sit_under_its_name_and_version),
	UNIT(policy_error_names_file_line_and_field),
	UNIT(release_needs_a_known_version_and_policy),
	UNIT(inline_policy_and_versions_stay_text),
	UNIT(unexpected_files_in_our_folders_are_refused),
	UNIT(entries_with_dot_dot_links_or_size_are_refused),
	UNIT(too_many_files_are_refused),
	UNIT(line_of_follows_keys_and_items),
	{0},
};

UNIT_MAIN(cases)
