/*
 * test_agent_store.c - the model store on disk (agent/lib/store.h): names
 * that may become path parts, partial files named by digest, a version
 * committed read-only with its manifest.json and nothing half-made on
 * failure, the current/previous links, the pending mark, pruning and the
 * model listing.  Each case works under its own mkdtemp root.
 */
#include "store.h"

#include "../unit/unit.h"
#include "scratch.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <sys/stat.h>

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define HEX1 "1111111111111111111111111111111111111111111111111111111111111111"
#define HEX2 "2222222222222222222222222222222222222222222222222222222222222222"


/* Writes text to root/rel, or to root itself for rel ""; exits on failure. */
static void put(const char *root, const char *rel, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), rel[0] ? "%s/%s" : "%s%s", root, rel);
	if ((f = fopen(path, "w")) == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
		fprintf(stderr, "  cannot write %s\n", path);
		exit(1);
	}
}

/* The first line of root/rel into out ("" when unreadable). */
static const char *get(const char *root, const char *rel, char *out, size_t cap)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	out[0] = 0;
	if ((f = fopen(path, "r")) != NULL) {
		if (fgets(out, (int)cap, f) == NULL)
			out[0] = 0;
		fclose(f);
	}
	return out;
}

/* 1 when root/rel exists (not following a final symlink). */
static int there(const char *root, const char *rel)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	return lstat(path, &st) == 0;
}

static void mkdir_in(const char *root, const char *rel)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	if (mstore_mkdir_p(path, 0755) != 0) {
		fprintf(stderr, "  cannot create %s\n", path);
		exit(1);
	}
}

/* Number of entries in root/rel whose name starts with prefix. */
static int count_prefixed(const char *root, const char *rel, const char *prefix)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
	closedir(d);
	return n;
}

/* Commits version of model m with file content text and manifest digest, as the agent does. */
static int install(const char *root, const char *version, const char *digest, const char *text,
		   struct ramp_err *err)
{
	char part[PATH_MAX];
	json_t *meta;
	int rc;

	if (mstore_partial(root, "m", digest, part, sizeof(part), err) != 0)
		return -1;
	put(part, "", text);
	meta = json_pack("{s:s,s:s,s:s,s:I}", "model", "m", "version", version, "digest", digest,
			 "size", (json_int_t)strlen(text));
	rc = mstore_commit(root, "m", version, part, meta, err);
	json_decref(meta);
	return rc;
}

static void name_ok_takes_one_safe_path_part_of_1_to_128_characters(void)
{
	char longest[130];

	CHECK(mstore_name_ok("a"));
	CHECK(mstore_name_ok("invoice-ocr"));
	CHECK(mstore_name_ok("2026.01.10-rc1"));
	CHECK(mstore_name_ok("V1+build_7"));
	memset(longest, 'a', 128);
	longest[128] = 0;
	CHECK(mstore_name_ok(longest));
	longest[128] = 'a';
	longest[129] = 0;
	CHECK(!mstore_name_ok(longest));
	CHECK(!mstore_name_ok(""));
	CHECK(!mstore_name_ok(NULL));
	CHECK(!mstore_name_ok("."));
	CHECK(!mstore_name_ok(".."));
	CHECK(!mstore_name_ok(".x"));
	CHECK(!mstore_name_ok("-x"));
	CHECK(!mstore_name_ok("_x"));
	CHECK(!mstore_name_ok("a/b"));
	CHECK(!mstore_name_ok("../x"));
	CHECK(!mstore_name_ok("a b"));
	CHECK(!mstore_name_ok("a\n"));
	CHECK(!mstore_name_ok("a:b"));
}

static void partial_creates_its_directory_and_names_the_file_by_the_digest_hex(void)
{
	const char *root = scratch("store");
	char out[PATH_MAX], want[PATH_MAX], small[16];
	struct ramp_err err = {0};
	struct stat st;

	CHECK(!there(root, "m"));
	CHECK_EQ_INT(mstore_partial(root, "m", D1, out, sizeof(out), &err), 0);
	snprintf(want, sizeof(want), "%s/m/.partial/" HEX1, root);
	CHECK_EQ_STR(out, want);
	snprintf(want, sizeof(want), "%s/m/.partial", root);
	CHECK(stat(want, &st) == 0 && S_ISDIR(st.st_mode));
	CHECK(!there(root, "m/.partial/" HEX1));	/* only named, not created */
	CHECK_EQ_INT(mstore_partial(root, "m", HEX2, out, sizeof(out), &err), 0);
	snprintf(want, sizeof(want), "%s/m/.partial/" HEX2, root);
	CHECK_EQ_STR(out, want);
	CHECK_EQ_INT(mstore_partial(root, "m", D1, small, sizeof(small), &err), RAMP_EIO);
	CHECK_EQ_STR(err.field, "model-dir");
	scratch_done();
}

static void commit_moves_the_part_into_a_read_only_model_with_its_manifest(void)
{
	const char *root = scratch("store");
	char part[PATH_MAX], file[PATH_MAX], buf[64];
	struct ramp_err err = {0};
	struct stat st;
	json_t *meta, *got;

	/* a part outside the store: the model directory does not exist yet */
	snprintf(part, sizeof(part), "%s/download", root);
	put(root, "download", "weights-v1");
	meta = json_pack("{s:s,s:s,s:s}", "model", "m", "version", "v1", "digest", D1);
	CHECK_EQ_INT(mstore_commit(root, "m", "v1", part, meta, &err), 0);
	json_decref(meta);
	CHECK(!there(root, "download"));
	CHECK_EQ_STR(get(root, "m/v1/model", buf, sizeof(buf)), "weights-v1");
	mstore_file(root, "m", "v1", file, sizeof(file));
	CHECK(stat(file, &st) == 0 && S_ISREG(st.st_mode));
	CHECK_EQ_INT(st.st_mode & 0777, 0444);
	snprintf(file, sizeof(file), "%s/m/v1/manifest.json", root);
	got = json_load_file(file, 0, NULL);
	CHECK(got != NULL);
	CHECK_EQ_STR(json_string_value(json_object_get(got, "digest")), D1);
	CHECK_EQ_STR(json_string_value(json_object_get(got, "version")), "v1");
	json_decref(got);
	CHECK_EQ_INT(count_prefixed(root, "m", ".tmp-"), 0);
	CHECK_EQ_INT(count_prefixed(root, "m", ".old-"), 0);
	CHECK_EQ_INT(mstore_has(root, "m", "v1", D1), 1);
	scratch_done();
}

static void commit_replaces_an_existing_version_dir_whole(void)
{
	const char *root = scratch("store");
	char buf[64];
	struct ramp_err err = {0};

	CHECK_EQ_INT(install(root, "v1", D1, "first", &err), 0);
	put(root, "m/v1/stray", "left from before");
	CHECK_EQ_INT(install(root, "v1", D2, "second", &err), 0);
	CHECK_EQ_STR(get(root, "m/v1/model", buf, sizeof(buf)), "second");
	CHECK(!there(root, "m/v1/stray"));
	CHECK_EQ_INT(mstore_has(root, "m", "v1", D2), 1);
	CHECK_EQ_INT(mstore_has(root, "m", "v1", D1), 0);
	CHECK_EQ_INT(count_prefixed(root, "m", ".tmp-"), 0);
	CHECK_EQ_INT(count_prefixed(root, "m", ".old-"), 0);
	scratch_done();
}

static void commit_of_a_missing_part_fails_and_leaves_nothing_half_made(void)
{
	const char *root = scratch("store");
	char part[PATH_MAX], buf[64];
	struct ramp_err err = {0};
	json_t *meta = json_pack("{s:s}", "digest", D2);

	snprintf(part, sizeof(part), "%s/m/.partial/" HEX2, root);
	mkdir_in(root, "m");
	CHECK_EQ_INT(mstore_commit(root, "m", "v2", part, meta, &err), RAMP_EIO);
	CHECK_EQ_STR(err.field, "model-dir");
	CHECK(strstr(err.msg, HEX2) != NULL);
	CHECK(!there(root, "m/v2"));
	CHECK_EQ_INT(count_prefixed(root, "m", ".tmp-"), 0);
	CHECK_EQ_INT(count_prefixed(root, "m", ".old-"), 0);

	/* an installed version of that name stays as it was */
	memset(&err, 0, sizeof(err));
	CHECK_EQ_INT(install(root, "v1", D1, "kept", &err), 0);
	CHECK_EQ_INT(mstore_commit(root, "m", "v1", part, meta, &err), RAMP_EIO);
	CHECK_EQ_STR(get(root, "m/v1/model", buf, sizeof(buf)), "kept");
	CHECK_EQ_INT(mstore_has(root, "m", "v1", D1), 1);
	CHECK_EQ_INT(count_prefixed(root, "m", ".tmp-"), 0);
	CHECK_EQ_INT(count_prefixed(root, "m", ".old-"), 0);
	json_decref(meta);
	scratch_done();
}

static void point_writes_a_relative_link_replaces_it_and_removes_it_for_empty(void)
{
	const char *root = scratch("store");
	char path[PATH_MAX], target[PATH_MAX];
	struct ramp_err err = {0};
	ssize_t n;

	mkdir_in(root, "m");
	snprintf(path, sizeof(path), "%s/m/current", root);
	CHECK_EQ_INT(mstore_point(root, "m", "current", "v1", &err), 0);
	n = readlink(path, target, sizeof(target) - 1);
	CHECK_EQ_INT(n, 2);
	target[n > 0 ? n : 0] = 0;
	CHECK_EQ_STR(target, "v1");
	CHECK_EQ_INT(mstore_point(root, "m", "current", "v2", &err), 0);
	n = readlink(path, target, sizeof(target) - 1);
	target[n > 0 ? n : 0] = 0;
	CHECK_EQ_STR(target, "v2");
	CHECK_EQ_INT(mstore_point(root, "m", "previous", "v1", &err), 0);
	snprintf(path, sizeof(path), "%s/m/previous", root);
	n = readlink(path, target, sizeof(target) - 1);
	target[n > 0 ? n : 0] = 0;
	CHECK_EQ_STR(target, "v1");
	CHECK_EQ_INT(count_prefixed(root, "m", ".current"), 0);
	CHECK_EQ_INT(count_prefixed(root, "m", ".previous"), 0);
	CHECK_EQ_INT(mstore_point(root, "m", "previous", "", &err), 0);
	CHECK(!there(root, "m/previous"));
	CHECK(there(root, "m/current"));
	CHECK_EQ_INT(mstore_point(root, "m", "previous", "", &err), 0);	/* already gone */
	CHECK_EQ_INT(mstore_point(root, "nomodel", "current", "v1", &err), RAMP_EIO);
	scratch_done();
}

static void link_returns_the_version_and_its_manifest_digest(void)
{
	const char *root = scratch("store");
	char version[MSTORE_VERSION_MAX], digest[80];
	struct ramp_err err = {0};

	CHECK_EQ_INT(install(root, "v1", D1, "one", &err), 0);
	CHECK_EQ_INT(install(root, "v2", D2, "two", &err), 0);
	CHECK_EQ_INT(mstore_point(root, "m", "current", "v2", &err), 0);
	CHECK_EQ_INT(mstore_point(root, "m", "previous", "v1", &err), 0);
	CHECK_EQ_INT(mstore_link(root, "m", "current", version, digest, sizeof(digest)), 0);
	CHECK_EQ_STR(version, "v2");
	CHECK_EQ_STR(digest, D2);
	CHECK_EQ_INT(mstore_link(root, "m", "previous", version, digest, sizeof(digest)), 0);
	CHECK_EQ_STR(version, "v1");
	CHECK_EQ_STR(digest, D1);
	CHECK_EQ_INT(mstore_link(root, "m", "current", version, NULL, 0), 0);
	CHECK_EQ_STR(version, "v2");
	scratch_done();
}

static void link_is_not_found_when_missing_or_dangling(void)
{
	const char *root = scratch("store");
	char version[MSTORE_VERSION_MAX] = "stale", digest[80];
	struct ramp_err err = {0};

	mkdir_in(root, "m");
	CHECK_EQ_INT(mstore_link(root, "m", "current", version, digest, sizeof(digest)),
		     RAMP_ENOTFOUND);
	CHECK_EQ_STR(version, "");
	CHECK_EQ_INT(mstore_point(root, "m", "current", "v9", &err), 0);
	CHECK_EQ_INT(mstore_link(root, "m", "current", version, digest, sizeof(digest)),
		     RAMP_ENOTFOUND);
	CHECK_EQ_STR(version, "");
	CHECK_EQ_INT(mstore_link(root, "m", "current", version, NULL, 0), RAMP_ENOTFOUND);
	scratch_done();
}

static void link_is_not_found_for_a_version_dir_without_model_or_manifest(void)
{
	const char *root = scratch("store");
	char version[MSTORE_VERSION_MAX], digest[80];
	struct ramp_err err = {0};

	mkdir_in(root, "m/nomodel");
	put(root, "m/nomodel/manifest.json", "{\"digest\":\"" D1 "\"}");
	mkdir_in(root, "m/nomanifest");
	put(root, "m/nomanifest/model", "weights");
	mkdir_in(root, "m/badmanifest");
	put(root, "m/badmanifest/model", "weights");
	put(root, "m/badmanifest/manifest.json", "{\"digest\":");
	mkdir_in(root, "m/modeldir/model");
	put(root, "m/modeldir/manifest.json", "{\"digest\":\"" D1 "\"}");
	const char *incomplete[] = {"nomodel", "nomanifest", "badmanifest", "modeldir"};
	for (size_t i = 0; i < sizeof(incomplete) / sizeof(incomplete[0]); i++) {
		CHECK_EQ_INT(mstore_point(root, "m", "current", incomplete[i], &err), 0);
		if (mstore_link(root, "m", "current", version, digest, sizeof(digest)) !=
		    RAMP_ENOTFOUND) {
			fprintf(stderr, "  %s: found with a digest\n", incomplete[i]);
			CHECK(0);
		}
		if (mstore_link(root, "m", "current", version, NULL, 0) != RAMP_ENOTFOUND) {
			fprintf(stderr, "  %s: found without a digest\n", incomplete[i]);
			CHECK(0);
		}
		CHECK_EQ_STR(version, "");
	}
	scratch_done();
}

static void link_is_not_found_for_a_target_that_is_not_a_version_name(void)
{
	const char *root = scratch("store");
	char version[MSTORE_VERSION_MAX], digest[80], path[PATH_MAX], abs[PATH_MAX];

	/* a complete version directory outside the model: ../x from m is root/x */
	mkdir_in(root, "m");
	mkdir_in(root, "x");
	put(root, "x/model", "elsewhere");
	put(root, "x/manifest.json", "{\"digest\":\"" D1 "\"}");
	snprintf(path, sizeof(path), "%s/m/current", root);
	CHECK_EQ_INT(symlink("../x", path), 0);
	CHECK_EQ_INT(mstore_link(root, "m", "current", version, digest, sizeof(digest)),
		     RAMP_ENOTFOUND);
	CHECK_EQ_STR(version, "");
	unlink(path);
	snprintf(abs, sizeof(abs), "%s/x", root);
	CHECK_EQ_INT(symlink(abs, path), 0);
	CHECK_EQ_INT(mstore_link(root, "m", "current", version, digest, sizeof(digest)),
		     RAMP_ENOTFOUND);
	scratch_done();
}

static void has_needs_a_complete_version_with_that_digest(void)
{
	const char *root = scratch("store");
	char path[PATH_MAX];
	struct ramp_err err = {0};

	CHECK_EQ_INT(install(root, "v1", D1, "one", &err), 0);
	CHECK_EQ_INT(mstore_has(root, "m", "v1", D1), 1);
	CHECK_EQ_INT(mstore_has(root, "m", "v1", D2), 0);
	CHECK_EQ_INT(mstore_has(root, "m", "v2", D1), 0);
	CHECK_EQ_INT(mstore_has(root, "m", "../m/v1", D1), 0);
	CHECK_EQ_INT(mstore_has(root, "other", "v1", D1), 0);
	snprintf(path, sizeof(path), "%s/m/v1/manifest.json", root);
	CHECK_EQ_INT(unlink(path), 0);
	CHECK_EQ_INT(mstore_has(root, "m", "v1", D1), 0);
	scratch_done();
}

static void pending_is_written_read_back_and_removed(void)
{
	const char *root = scratch("store");
	char old[MSTORE_VERSION_MAX] = "stale";
	struct ramp_err err = {0};

	CHECK_EQ_INT(mstore_pending_get(root, "m", old), 0);
	CHECK_EQ_INT(mstore_pending(root, "m", "v1", &err), 0);	/* creates the model dir */
	CHECK_EQ_INT(mstore_pending_get(root, "m", old), 1);
	CHECK_EQ_STR(old, "v1");
	CHECK_EQ_INT(mstore_pending(root, "m", "", &err), 0);
	CHECK_EQ_INT(mstore_pending_get(root, "m", old), 1);
	CHECK_EQ_STR(old, "");
	CHECK(!there(root, "m/.pending.tmp"));
	CHECK_EQ_INT(mstore_pending(root, "m", NULL, &err), 0);
	CHECK(!there(root, "m/.pending"));
	CHECK_EQ_INT(mstore_pending_get(root, "m", old), 0);
	CHECK_EQ_INT(mstore_pending(root, "m", NULL, &err), 0);	/* already gone */
	scratch_done();
}

static void pending_with_garbage_content_reads_as_no_old_version(void)
{
	const char *root = scratch("store");
	const char *garbage[] = {"", "\n", "../etc\n", ".hidden\n", "a b\n", "v1/../x",
				 "\x01\x02\xff\n", "v1\nv2\n"};
	char old[MSTORE_VERSION_MAX], toolong[300];

	mkdir_in(root, "m");
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		snprintf(old, sizeof(old), "stale");
		put(root, "m/.pending", garbage[i]);
		CHECK_EQ_INT(mstore_pending_get(root, "m", old), 1);
		if (strcmp(old, "") != 0) {
			fprintf(stderr, "  garbage %zu read as \"%s\"\n", i, old);
			CHECK(0);
		}
	}
	/* a name longer than any version must not come back cut to one */
	memset(toolong, 'a', 200);
	snprintf(toolong + 200, sizeof(toolong) - 200, "\n");
	put(root, "m/.pending", toolong);
	CHECK_EQ_INT(mstore_pending_get(root, "m", old), 1);
	CHECK_EQ_STR(old, "");
	put(root, "m/.pending", "v7 \r\n");
	CHECK_EQ_INT(mstore_pending_get(root, "m", old), 1);
	CHECK_EQ_STR(old, "v7");
	scratch_done();
}

static void prune_keeps_the_named_versions_links_and_the_kept_partial(void)
{
	const char *root = scratch("store");
	char part[PATH_MAX];
	struct ramp_err err = {0};

	CHECK_EQ_INT(install(root, "v1", D1, "1", &err), 0);
	CHECK_EQ_INT(install(root, "v2", D1, "2", &err), 0);
	CHECK_EQ_INT(install(root, "v3", D1, "3", &err), 0);
	CHECK_EQ_INT(install(root, "v4", D1, "4", &err), 0);
	CHECK_EQ_INT(mstore_point(root, "m", "current", "v3", &err), 0);
	CHECK_EQ_INT(mstore_point(root, "m", "previous", "v2", &err), 0);
	CHECK_EQ_INT(mstore_pending(root, "m", "v2", &err), 0);
	mkdir_in(root, "m/.tmp-v5");
	put(root, "m/.tmp-v5/model", "half");
	mkdir_in(root, "m/.old-v1");
	put(root, "m/.old-v1/model", "old");
	CHECK_EQ_INT(mstore_partial(root, "m", D1, part, sizeof(part), &err), 0);
	put(part, "", "partial one");
	CHECK_EQ_INT(mstore_partial(root, "m", D2, part, sizeof(part), &err), 0);
	put(part, "", "partial two");

	mstore_prune(root, "m", "v3", "v2", D2);
	CHECK(there(root, "m/v3/model"));
	CHECK(there(root, "m/v2/model"));
	CHECK(!there(root, "m/v1"));
	CHECK(!there(root, "m/v4"));
	CHECK(!there(root, "m/.tmp-v5"));
	CHECK(!there(root, "m/.old-v1"));
	CHECK(there(root, "m/current"));
	CHECK(there(root, "m/previous"));
	CHECK(there(root, "m/.pending"));
	CHECK(there(root, "m/.partial/" HEX2));
	CHECK(!there(root, "m/.partial/" HEX1));

	/* with one version and no digest kept, the rest goes */
	mstore_prune(root, "m", "v3", "", NULL);
	CHECK(there(root, "m/v3/model"));
	CHECK(!there(root, "m/v2"));
	CHECK(!there(root, "m/.partial/" HEX2));
	CHECK(there(root, "m/.partial"));
	CHECK(there(root, "m/current"));
	mstore_prune(root, "absent", "v1", "", NULL);	/* no model dir: nothing to do */
	scratch_done();
}

struct seen {
	char names[8][64];
	int n;
};

static void collect(void *cls, const char *model)
{
	struct seen *s = cls;

	if (s->n < 8)
		snprintf(s->names[s->n++], sizeof(s->names[0]), "%s", model);
}

static int saw(const struct seen *s, const char *name)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->names[i], name))
			return 1;
	return 0;
}

static void models_lists_only_model_directories_with_valid_names(void)
{
	const char *root = scratch("store");
	char path[PATH_MAX];
	struct seen s = {0};

	mkdir_in(root, "alpha");
	mkdir_in(root, "beta-2");
	mkdir_in(root, ".ramp");
	mkdir_in(root, "bad name");
	put(root, "notes.txt", "not a model");
	snprintf(path, sizeof(path), "%s/dangling", root);
	CHECK_EQ_INT(symlink("nowhere", path), 0);
	mstore_models(root, collect, &s);
	CHECK_EQ_INT(s.n, 2);
	CHECK(saw(&s, "alpha"));
	CHECK(saw(&s, "beta-2"));
	memset(&s, 0, sizeof(s));
	snprintf(path, sizeof(path), "%s/missing", root);
	mstore_models(path, collect, &s);
	CHECK_EQ_INT(s.n, 0);
	scratch_done();
}

static void mkdir_p_creates_nested_directories_and_accepts_existing_ones(void)
{
	const char *root = scratch("store");
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/a/b/c", root);
	CHECK_EQ_INT(mstore_mkdir_p(path, 0700), 0);
	CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
	CHECK_EQ_INT(mstore_mkdir_p(path, 0700), 0);
	put(root, "file", "x");
	snprintf(path, sizeof(path), "%s/file/sub", root);
	CHECK_EQ_INT(mstore_mkdir_p(path, 0700), -1);
	CHECK_EQ_INT(errno, ENOTDIR);
	scratch_done();
}

static void size_is_the_file_length_or_zero_when_missing(void)
{
	const char *root = scratch("store");
	char path[PATH_MAX];

	put(root, "f", "12345");
	snprintf(path, sizeof(path), "%s/f", root);
	CHECK_EQ_INT(mstore_size(path), 5);
	snprintf(path, sizeof(path), "%s/none", root);
	CHECK_EQ_INT(mstore_size(path), 0);
	scratch_done();
}

static void free_mb_is_positive_for_a_directory_and_minus_one_when_missing(void)
{
	const char *root = scratch("store");
	char path[PATH_MAX];

	CHECK(mstore_free_mb(root) > 0);
	snprintf(path, sizeof(path), "%s/missing/dir", root);
	CHECK(mstore_free_mb(path) == -1);
	scratch_done();
}

static const struct unit_case cases[] = {
	UNIT(name_ok_takes_one_safe_path_part_of_1_to_128_characters),
	UNIT(partial_creates_its_directory_and_names_the_file_by_the_digest_hex),
	UNIT(commit_moves_the_part_into_a_read_only_model_with_its_manifest),
	UNIT(commit_replaces_an_existing_version_dir_whole),
	UNIT(commit_of_a_missing_part_fails_and_leaves_nothing_half_made),
	UNIT(point_writes_a_relative_link_replaces_it_and_removes_it_for_empty),
	UNIT(link_returns_the_version_and_its_manifest_digest),
	UNIT(link_is_not_found_when_missing_or_dangling),
	UNIT(link_is_not_found_for_a_version_dir_without_model_or_manifest),
	UNIT(link_is_not_found_for_a_target_that_is_not_a_version_name),
	UNIT(has_needs_a_complete_version_with_that_digest),
	UNIT(pending_is_written_read_back_and_removed),
	UNIT(pending_with_garbage_content_reads_as_no_old_version),
	UNIT(prune_keeps_the_named_versions_links_and_the_kept_partial),
	UNIT(models_lists_only_model_directories_with_valid_names),
	UNIT(mkdir_p_creates_nested_directories_and_accepts_existing_ones),
	UNIT(size_is_the_file_length_or_zero_when_missing),
	UNIT(free_mb_is_positive_for_a_directory_and_minus_one_when_missing),
	{0},
};

UNIT_MAIN(cases)
