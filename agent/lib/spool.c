/*
 * spool.c - the bounded on-disk telemetry buffer (spool.h).
 *
 * Memory holds only the list of batch files, oldest first, with the number
 * of reports in each; the reports themselves are read back on spool_peek().
 * Invariant after spool_open() and spool_push() return: count is the sum of
 * the list's sizes, every listed file exists with that many reports, and
 * count <= max.  A file is only ever replaced by rename(2), so a reader (or
 * the next run after a crash) sees a whole batch or none; a crash between
 * the write and the trim can leave more than max held, which the next
 * spool_open() trims.
 */
#include "spool.h"

#include "common/fdio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SPOOL_SEQ_DIGITS 20
#define SPOOL_NAME_LEN (SPOOL_SEQ_DIGITS + 5) /* "<seq>.json" and ".<seq>.tmp" */

struct spool_batch {
	uint64_t seq;
	size_t n; /* reports in the file */
};

struct spool {
	char *dir;
	size_t max, count, corrupt;
	struct spool_batch *b; /* oldest first */
	size_t nb, cap;
	uint64_t next; /* the sequence of the next batch */
};

static void batch_path(const struct spool *sp, uint64_t seq, int tmp, char *buf, size_t cap)
{
	if (tmp)
		snprintf(buf, cap, "%s/.%020" PRIu64 ".tmp", sp->dir, seq);
	else
		snprintf(buf, cap, "%s/%020" PRIu64 ".json", sp->dir, seq);
}

/* The sequence in a file name of the given form, or -1 when name is not one. */
static int parse_name(const char *name, int tmp, uint64_t *seq)
{
	const char *digits = tmp ? name + 1 : name;
	const char *suffix = tmp ? ".tmp" : ".json";
	char *end;

	if (strlen(name) != SPOOL_NAME_LEN || (tmp && name[0] != '.'))
		return -1;
	for (int i = 0; i < SPOOL_SEQ_DIGITS; i++)
		if (digits[i] < '0' || digits[i] > '9')
			return -1;
	if (strcmp(digits + SPOOL_SEQ_DIGITS, suffix) != 0)
		return -1;
	errno = 0;
	*seq = strtoull(digits, &end, 10);
	return errno == 0 && end == digits + SPOOL_SEQ_DIGITS ? 0 : -1;
}

/* mkdir -p: missing components are made mode 0700. */
static int mkdir_p(const char *dir, struct ramp_err *err)
{
	char path[PATH_MAX];
	size_t len = strlen(dir);

	memcpy(path, dir, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		path[i] = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST)
			return ramp_err_set(err, RAMP_EIO, "state-dir", "could not create %s: %s",
					    path, strerror(errno));
		path[i] = i == len ? '\0' : '/';
	}
	return 0;
}

/* Makes the renames and unlinks in the directory durable; best effort. */
static void sync_dir(const struct spool *sp)
{
	int fd = open(sp->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

/* A batch file's array of report objects, or NULL when unreadable or not one. */
static json_t *load_batch(const struct spool *sp, uint64_t seq)
{
	char path[PATH_MAX];
	json_t *a, *item;
	size_t i;

	batch_path(sp, seq, 0, path, sizeof(path));
	a = json_load_file(path, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_array(a) || json_array_size(a) == 0)
		goto bad;
	json_array_foreach(a, i, item)
		if (!json_is_object(item))
			goto bad;
	return a;
bad:
	json_decref(a);
	return NULL;
}

/* Writes a as batch seq: temporary file, fsync, rename over <seq>.json.  0 or RAMP_EIO/ENOMEM. */
static int write_batch(const struct spool *sp, uint64_t seq, const json_t *a)
{
	char tmp[PATH_MAX], path[PATH_MAX];
	char *text = json_dumps(a, JSON_COMPACT);
	int fd, rc = RAMP_EIO;

	if (text == NULL)
		return RAMP_ENOMEM;
	batch_path(sp, seq, 1, tmp, sizeof(tmp));
	batch_path(sp, seq, 0, path, sizeof(path));
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		goto out;
	if (fd_write_all(fd, text, strlen(text)) != 0 || fsync(fd) != 0) {
		close(fd);
		goto fail;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0)
		goto fail;
	sync_dir(sp);
	rc = 0;
	goto out;
fail:
	unlink(tmp);
out:
	free(text);
	return rc;
}

/* Forgets batch i of the list (its file is already handled). */
static void list_remove(struct spool *sp, size_t i)
{
	sp->count -= sp->b[i].n;
	memmove(&sp->b[i], &sp->b[i + 1], (sp->nb - i - 1) * sizeof(sp->b[0]));
	sp->nb--;
}

static int list_append(struct spool *sp, uint64_t seq, size_t n)
{
	if (sp->nb == sp->cap) {
		size_t cap = sp->cap ? sp->cap * 2 : 16;
		struct spool_batch *b = realloc(sp->b, cap * sizeof(*b));

		if (b == NULL)
			return RAMP_ENOMEM;
		sp->b = b;
		sp->cap = cap;
	}
	sp->b[sp->nb].seq = seq;
	sp->b[sp->nb].n = n;
	sp->nb++;
	sp->count += n;
	return 0;
}

/* Deletes batch i's file and forgets it.  0, or RAMP_EIO with the batch still held. */
static int discard(struct spool *sp, size_t i)
{
	char path[PATH_MAX];

	batch_path(sp, sp->b[i].seq, 0, path, sizeof(path));
	if (unlink(path) != 0 && errno != ENOENT)
		return RAMP_EIO;
	list_remove(sp, i);
	return 0;
}

/* A corrupt batch i: deleted (or, failing that, left for the next run) and forgotten. */
static void discard_corrupt(struct spool *sp, size_t i)
{
	char path[PATH_MAX];

	batch_path(sp, sp->b[i].seq, 0, path, sizeof(path));
	(void)unlink(path);
	list_remove(sp, i);
	sp->corrupt++;
}

/* A new array of the last keep items of a (keep <= its size); NULL on out of memory. */
static json_t *newest(const json_t *a, size_t keep)
{
	json_t *out = json_array();
	size_t n = json_array_size(a);

	for (size_t i = n - keep; out != NULL && i < n; i++)
		if (json_array_append(out, json_array_get(a, i)) != 0) {
			json_decref(out);
			out = NULL;
		}
	return out;
}

/*
 * Keeps only the newest `keep` reports of the oldest batch, rewriting its
 * file under the same sequence.  When it cannot be rewritten, the whole
 * batch goes: the bound wins over the reports.
 */
static int shrink_oldest(struct spool *sp, size_t keep)
{
	json_t *a = load_batch(sp, sp->b[0].seq), *part;
	int rc;

	if (a == NULL) {
		discard_corrupt(sp, 0);
		return 0;
	}
	part = newest(a, keep);
	json_decref(a);
	rc = part ? write_batch(sp, sp->b[0].seq, part) : RAMP_ENOMEM;
	json_decref(part);
	if (rc != 0)
		return discard(sp, 0);
	sp->count -= sp->b[0].n - keep;
	sp->b[0].n = keep;
	return 0;
}

/* Drops the oldest reports until count <= max.  0 or RAMP_EIO. */
/* Drops the oldest reports until at most limit remain. */
static int trim_to(struct spool *sp, size_t limit)
{
	while (sp->count > limit) {
		size_t excess = sp->count - limit;
		int rc;

		if (excess >= sp->b[0].n)
			rc = discard(sp, 0);
		else
			rc = shrink_oldest(sp, sp->b[0].n - excess);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int trim(struct spool *sp)
{
	return trim_to(sp, sp->max);
}

static int cmp_seq(const void *a, const void *b)
{
	uint64_t x = ((const struct spool_batch *)a)->seq, y = ((const struct spool_batch *)b)->seq;

	return x < y ? -1 : x > y;
}

/* Lists the batch files in sp->dir (sizes unknown yet) and deletes stale temporary files. */
static int scan_names(struct spool *sp, struct ramp_err *err)
{
	DIR *d = opendir(sp->dir);
	struct dirent *e;
	uint64_t seq;
	char path[PATH_MAX];

	if (d == NULL)
		return ramp_err_set(err, RAMP_EIO, "state-dir", "could not read %s: %s", sp->dir,
				    strerror(errno));
	while ((e = readdir(d)) != NULL) {
		if (parse_name(e->d_name, 1, &seq) == 0) {
			snprintf(path, sizeof(path), "%s/%s", sp->dir, e->d_name);
			(void)unlink(path);
		} else if (parse_name(e->d_name, 0, &seq) != 0) {
			continue;
		} else if (list_append(sp, seq, 0) != 0) {
			closedir(d);
			return ramp_err_set(err, RAMP_ENOMEM, "state-dir", "out of memory");
		}
		if (seq >= sp->next)
			sp->next = seq + 1;
	}
	closedir(d);
	if (sp->nb > 1)
		qsort(sp->b, sp->nb, sizeof(sp->b[0]), cmp_seq);
	return 0;
}

/* Reads every listed batch for its size; corrupt ones go. */
static void size_batches(struct spool *sp)
{
	size_t i = 0;

	while (i < sp->nb) {
		json_t *a = load_batch(sp, sp->b[i].seq);

		if (a == NULL) {
			discard_corrupt(sp, i);
			continue;
		}
		sp->b[i].n = json_array_size(a);
		sp->count += sp->b[i].n;
		json_decref(a);
		i++;
	}
}

struct spool *spool_open(const char *dir, size_t max_reports, struct ramp_err *err)
{
	struct spool *sp;

	if (dir == NULL || dir[0] == '\0' || strlen(dir) + SPOOL_NAME_LEN + 2 > PATH_MAX) {
		ramp_err_set(err, RAMP_EINVAL, "state-dir",
			     "telemetry spool path is empty or too long");
		return NULL;
	}
	if (mkdir_p(dir, err) != 0)
		return NULL;
	sp = calloc(1, sizeof(*sp));
	if (sp == NULL || (sp->dir = strdup(dir)) == NULL) {
		free(sp);
		ramp_err_set(err, RAMP_ENOMEM, "state-dir", "out of memory");
		return NULL;
	}
	sp->max = max_reports;
	sp->next = 1;
	if (scan_names(sp, err) != 0)
		goto fail;
	size_batches(sp);
	if (trim(sp) != 0) {
		ramp_err_set(err, RAMP_EIO, "state-dir", "could not trim %s to %zu reports: %s",
			     dir, max_reports, strerror(errno));
		goto fail;
	}
	return sp;
fail:
	spool_close(sp);
	return NULL;
}

int spool_push(struct spool *sp, const json_t *reports)
{
	size_t n = json_array_size(reports);
	json_t *kept = NULL;
	int rc;

	if (!json_is_array(reports))
		return RAMP_EINVAL;
	if (n == 0 || sp->max == 0)
		return 0;
	if (n > sp->max) {
		kept = newest(reports, sp->max);
		if (kept == NULL)
			return RAMP_ENOMEM;
		n = sp->max;
	}
	/* room first, so the files never hold more than the bound, not even for a moment */
	if ((rc = trim_to(sp, sp->max - n)) != 0) {
		json_decref(kept);
		return rc;
	}
	rc = write_batch(sp, sp->next, kept ? kept : reports);
	json_decref(kept);
	if (rc != 0)
		return rc;
	if (list_append(sp, sp->next, n) != 0) {
		char path[PATH_MAX];

		batch_path(sp, sp->next, 0, path, sizeof(path));
		(void)unlink(path);
		return RAMP_ENOMEM;
	}
	sp->next++;
	return trim(sp);
}

json_t *spool_peek(struct spool *sp, uint64_t *id)
{
	while (sp->nb > 0) {
		json_t *a = load_batch(sp, sp->b[0].seq);

		if (a != NULL) {
			*id = sp->b[0].seq;
			return a;
		}
		discard_corrupt(sp, 0);
	}
	return NULL;
}

int spool_drop(struct spool *sp, uint64_t id)
{
	for (size_t i = 0; i < sp->nb; i++)
		if (sp->b[i].seq == id)
			return discard(sp, i);
	return RAMP_ENOTFOUND;
}

size_t spool_count(const struct spool *sp)
{
	return sp->count;
}

size_t spool_corrupt(const struct spool *sp)
{
	return sp->corrupt;
}

void spool_close(struct spool *sp)
{
	if (sp == NULL)
		return;
	free(sp->b);
	free(sp->dir);
	free(sp);
}
