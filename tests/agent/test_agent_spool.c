/*
 * test_agent_spool.c - the agent's on-disk telemetry buffer (agent/lib/spool.h):
 * the report bound holds exactly with the oldest dropped, batches come back
 * oldest first across a restart, and corrupt files are skipped.  Each case
 * works in its own temporary directory; reports are {"i": n} objects so the
 * order can be read back.
 */
#include "spool.h"

#include "../unit/unit.h"
#include "scratch.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <sys/stat.h>


/* A batch of n reports numbered from first. */
static json_t *batch(int first, int n)
{
	json_t *a = json_array();

	for (int i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:i}", "i", first + i));
	return a;
}

static int push(struct spool *sp, int first, int n)
{
	json_t *a = batch(first, n);
	int rc = spool_push(sp, a);

	json_decref(a);
	return rc;
}

/* Writes the oldest batch's "i" values to out ("2,3,"), then drops the batch. */
static void pop(struct spool *sp, char *out, size_t cap)
{
	uint64_t id = 0;
	json_t *a = spool_peek(sp, &id), *r;
	size_t i, len = 0;

	out[0] = '\0';
	if (a == NULL)
		return;
	json_array_foreach(a, i, r)
		len += (size_t)snprintf(out + len, cap - len, "%lld,",
					(long long)json_integer_value(json_object_get(r, "i")));
	json_decref(a);
	CHECK_EQ_INT(spool_drop(sp, id), 0);
}

/* Reports in the batch files on disk, and the number of those files. */
static size_t on_disk(const char *dir, size_t *files)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;
	char path[PATH_MAX];

	*files = 0;
	while (d && (e = readdir(d)) != NULL) {
		json_t *a;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		a = json_load_file(path, 0, NULL);
		n += json_array_size(a);
		json_decref(a);
		(*files)++;
	}
	if (d)
		closedir(d);
	return n;
}

static void spool_holds_exactly_the_bound_dropping_the_oldest_reports(void)
{
	const char *dir = scratch("spool");
	struct ramp_err err = {0};
	struct spool *sp = spool_open(dir, 10, &err);
	size_t files;
	char got[256];

	CHECK(sp != NULL);
	CHECK_EQ_INT(push(sp, 0, 4), 0);
	CHECK_EQ_INT(push(sp, 4, 4), 0);
	CHECK_EQ_INT(spool_count(sp), 8);
	CHECK_EQ_INT(push(sp, 8, 4), 0);
	CHECK_EQ_INT(spool_count(sp), 10);
	CHECK_EQ_INT(on_disk(dir, &files), 10);
	CHECK_EQ_INT(files, 3);
	pop(sp, got, sizeof(got));
	CHECK_EQ_STR(got, "2,3,");
	pop(sp, got, sizeof(got));
	CHECK_EQ_STR(got, "4,5,6,7,");
	pop(sp, got, sizeof(got));
	CHECK_EQ_STR(got, "8,9,10,11,");
	CHECK_EQ_INT(spool_count(sp), 0);
	CHECK(spool_peek(sp, &(uint64_t){0}) == NULL);
	CHECK_EQ_INT(on_disk(dir, &files), 0);
	spool_close(sp);
	scratch_done();
}

static void spool_removes_whole_old_batches_when_a_new_one_needs_their_room(void)
{
	const char *dir = scratch("spool");
	struct spool *sp = spool_open(dir, 5, NULL);
	size_t files;
	char got[256];

	CHECK_EQ_INT(push(sp, 0, 2), 0);
	CHECK_EQ_INT(push(sp, 2, 2), 0);
	CHECK_EQ_INT(push(sp, 4, 5), 0);
	CHECK_EQ_INT(spool_count(sp), 5);
	CHECK_EQ_INT(on_disk(dir, &files), 5);
	CHECK_EQ_INT(files, 1);
	pop(sp, got, sizeof(got));
	CHECK_EQ_STR(got, "4,5,6,7,8,");
	spool_close(sp);
	scratch_done();
}

static void spool_carries_count_order_and_sequence_across_a_reopen(void)
{
	const char *dir = scratch("spool");
	struct spool *sp = spool_open(dir, 100, NULL);
	uint64_t first = 0, second = 0;
	json_t *a;
	char got[256];

	CHECK_EQ_INT(push(sp, 0, 3), 0);
	CHECK_EQ_INT(push(sp, 3, 2), 0);
	a = spool_peek(sp, &first);
	json_decref(a);
	spool_close(sp);

	sp = spool_open(dir, 100, NULL);
	CHECK(sp != NULL);
	CHECK_EQ_INT(spool_count(sp), 5);
	CHECK_EQ_INT(push(sp, 5, 1), 0);
	CHECK_EQ_INT(spool_count(sp), 6);
	a = spool_peek(sp, &second);
	json_decref(a);
	CHECK_EQ_INT(second, first);
	pop(sp, got, sizeof(got));
	CHECK_EQ_STR(got, "0,1,2,");
	pop(sp, got, sizeof(got));
	CHECK_EQ_STR(got, "3,4,");
	a = spool_peek(sp, &second);
	CHECK(a != NULL);
	CHECK(second > first + 1);
	json_decref(a);
	pop(sp, got, sizeof(got));
	CHECK_EQ_STR(got, "5,");
	spool_close(sp);
	scratch_done();
}

static void spool_reopened_with_a_smaller_bound_trims_the_oldest(void)
{
	const char *dir = scratch("spool");
	struct spool *sp = spool_open(dir, 100, NULL);
	size_t files;
	char got[256];

	CHECK_EQ_INT(push(sp, 0, 4), 0);
	CHECK_EQ_INT(push(sp, 4, 4), 0);
	spool_close(sp);
	sp = spool_open(dir, 5, NULL);
	CHECK(sp != NULL);
	CHECK_EQ_INT(spool_count(sp), 5);
	CHECK_EQ_INT(on_disk(dir, &files), 5);
	pop(sp, got, sizeof(got));
	CHECK_EQ_STR(got, "3,");
	spool_close(sp);
	scratch_done();
}

static void spool_keeps_only_the_newest_reports_of_an_oversize_batch(void)
{
	const char *dir = scratch("spool");
	struct spool *sp = spool_open(dir, 3, NULL);
	size_t files;
	char got[256];

	CHECK_EQ_INT(push(sp, 0, 2), 0);
	CHECK_EQ_INT(push(sp, 10, 5), 0);
	CHECK_EQ_INT(spool_count(sp), 3);
	CHECK_EQ_INT(on_disk(dir, &files), 3);
	CHECK_EQ_INT(files, 1);
	pop(sp, got, sizeof(got));
	CHECK_EQ_STR(got, "12,13,14,");
	spool_close(sp);
	scratch_done();
}

static void spool_deletes_and_skips_a_corrupt_batch_on_peek(void)
{
	const char *dir = scratch("spool");
	struct spool *sp = spool_open(dir, 100, NULL);
	uint64_t id = 0;
	json_t *a;
	char path[PATH_MAX], got[256];
	FILE *f;

	CHECK_EQ_INT(push(sp, 0, 2), 0);
	CHECK_EQ_INT(push(sp, 2, 2), 0);
	a = spool_peek(sp, &id);
	json_decref(a);
	snprintf(path, sizeof(path), "%s/%020llu.json", dir, (unsigned long long)id);
	f = fopen(path, "w");
	CHECK(f != NULL);
	fputs("[{\"i\": 0}, {\"i\"", f);
	fclose(f);
	pop(sp, got, sizeof(got));
	CHECK_EQ_STR(got, "2,3,");
	CHECK_EQ_INT(spool_corrupt(sp), 1);
	CHECK_EQ_INT(spool_count(sp), 0);
	CHECK(access(path, F_OK) != 0);
	spool_close(sp);
	scratch_done();
}

static void spool_open_deletes_corrupt_and_temporary_files_it_finds(void)
{
	const char *dir = scratch("spool");
	struct spool *sp = spool_open(dir, 100, NULL);
	char path[PATH_MAX], tmp[PATH_MAX], got[256];
	uint64_t id = 0;
	json_t *a;
	FILE *f;

	CHECK_EQ_INT(push(sp, 0, 2), 0);
	spool_close(sp);
	snprintf(path, sizeof(path), "%s/%020d.json", dir, 7);
	snprintf(tmp, sizeof(tmp), "%s/.%020d.tmp", dir, 9);
	f = fopen(path, "w");
	fputs("{\"not\": \"an array\"}", f);
	fclose(f);
	f = fopen(tmp, "w");
	fputs("[", f);
	fclose(f);

	sp = spool_open(dir, 100, NULL);
	CHECK(sp != NULL);
	CHECK_EQ_INT(spool_corrupt(sp), 1);
	CHECK_EQ_INT(spool_count(sp), 2);
	CHECK(access(path, F_OK) != 0);
	CHECK(access(tmp, F_OK) != 0);
	CHECK_EQ_INT(push(sp, 2, 1), 0);
	pop(sp, got, sizeof(got));
	CHECK_EQ_STR(got, "0,1,");
	a = spool_peek(sp, &id);
	CHECK(id > 9); /* the sequence continues past every name seen */
	json_decref(a);
	spool_close(sp);
	scratch_done();
}

static void spool_drop_removes_only_the_named_batch(void)
{
	const char *dir = scratch("spool");
	struct spool *sp = spool_open(dir, 100, NULL);
	uint64_t oldest = 0;
	json_t *a;
	char got[256];

	CHECK_EQ_INT(push(sp, 0, 1), 0);
	CHECK_EQ_INT(push(sp, 1, 2), 0);
	CHECK_EQ_INT(push(sp, 3, 3), 0);
	a = spool_peek(sp, &oldest);
	json_decref(a);
	CHECK_EQ_INT(spool_drop(sp, oldest + 1000), RAMP_ENOTFOUND);
	CHECK_EQ_INT(spool_drop(sp, oldest + 1), 0);
	CHECK_EQ_INT(spool_count(sp), 4);
	CHECK_EQ_INT(spool_drop(sp, oldest + 1), RAMP_ENOTFOUND);
	pop(sp, got, sizeof(got));
	CHECK_EQ_STR(got, "0,");
	pop(sp, got, sizeof(got));
	CHECK_EQ_STR(got, "3,4,5,");
	spool_close(sp);
	scratch_done();
}

static void spool_stores_nothing_for_an_empty_batch_and_refuses_a_non_array(void)
{
	const char *dir = scratch("spool");
	struct spool *sp = spool_open(dir, 100, NULL);
	json_t *empty = json_array(), *obj = json_object();
	size_t files;

	CHECK_EQ_INT(spool_push(sp, empty), 0);
	CHECK_EQ_INT(spool_push(sp, obj), RAMP_EINVAL);
	CHECK_EQ_INT(spool_count(sp), 0);
	CHECK_EQ_INT(on_disk(dir, &files), 0);
	CHECK_EQ_INT(files, 0);
	json_decref(empty);
	json_decref(obj);
	spool_close(sp);
	scratch_done();
}

static void spool_open_makes_missing_directories_private(void)
{
	char dir[PATH_MAX];
	struct stat st;
	struct spool *sp;

	snprintf(dir, sizeof(dir), "%s/state/telemetry", scratch("spool"));
	sp = spool_open(dir, 10, NULL);
	CHECK(sp != NULL);
	CHECK(stat(dir, &st) == 0 && S_ISDIR(st.st_mode));
	CHECK_EQ_INT(st.st_mode & 0777, 0700);
	CHECK_EQ_INT(push(sp, 0, 1), 0);
	CHECK_EQ_INT(spool_count(sp), 1);
	spool_close(sp);
	spool_close(NULL);
	scratch_done();
}

static void spool_open_fails_naming_the_state_dir_when_it_is_a_file(void)
{
	char dir[PATH_MAX];
	struct ramp_err err = {0};
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/file", scratch("spool"));
	f = fopen(dir, "w");
	fclose(f);
	CHECK(spool_open(dir, 10, &err) == NULL);
	CHECK_EQ_INT(err.code, RAMP_EIO);
	CHECK_EQ_STR(err.field, "state-dir");
	scratch_done();
}

static const struct unit_case cases[] = {
	UNIT(spool_holds_exactly_the_bound_dropping_the_oldest_reports),
	UNIT(spool_removes_whole_old_batches_when_a_new_one_needs_their_room),
	UNIT(spool_carries_count_order_and_sequence_across_a_reopen),
	UNIT(spool_reopened_with_a_smaller_bound_trims_the_oldest),
	UNIT(spool_keeps_only_the_newest_reports_of_an_oversize_batch),
	UNIT(spool_deletes_and_skips_a_corrupt_batch_on_peek),
	UNIT(spool_open_deletes_corrupt_and_temporary_files_it_finds),
	UNIT(spool_drop_removes_only_the_named_batch),
	UNIT(spool_stores_nothing_for_an_empty_batch_and_refuses_a_non_array),
	UNIT(spool_open_makes_missing_directories_private),
	UNIT(spool_open_fails_naming_the_state_dir_when_it_is_a_file),
	{0},
};

UNIT_MAIN(cases)
