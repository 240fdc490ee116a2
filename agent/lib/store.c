/*
 * store.c - the model store layout on disk (store.h): version directories,
 * the current and previous links, partial downloads and the pending mark.
 *
 * Durability order for an install: the file's data is fsync'd, then the
 * version directory (built under a temporary name) is renamed into place
 * and the model directory fsync'd; only then can a link name it.  Links are
 * new symlinks renamed over the old ones, each followed by an fsync of the
 * model directory.
 */
#include "store.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

int mstore_name_ok(const char *s)
{
	static const char ok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._+-";
	size_t n = s ? strlen(s) : 0;

	return n >= 1 && n < MSTORE_VERSION_MAX && isalnum((unsigned char)s[0]) &&
	       strspn(s, ok) == n;
}

static int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int mstore_mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	size_t n = strlen(path);

	if (n >= sizeof(tmp))
		return errno = ENAMETOOLONG, -1;
	memcpy(tmp, path, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, mode) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(tmp, mode) != 0 && errno != EEXIST ? -1 : 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/* rm -rf path (a file or a directory tree, symlinks not followed). */
static void rm_rf(const char *path)
{
	if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		unlink(path);
}

static int io_err(struct ramp_err *err, const char *what, const char *path)
{
	int e = errno;

	if (e == ENOSPC || e == EDQUOT)
		return ramp_err_set(err, RAMP_EIO, "space", "no space: cannot %s %s", what, path);
	return ramp_err_set(err, RAMP_EIO, "model-dir", "cannot %s %s: %s", what, path,
			    strerror(e));
}

int mstore_partial(const char *root, const char *model, const char *digest, char *out,
		   size_t cap, struct ramp_err *err)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s/%s/.partial", root, model);
	if (mstore_mkdir_p(dir, 0755) != 0)
		return io_err(err, "create", dir);
	if ((size_t)snprintf(out, cap, "%s/%s", dir, strncmp(digest, "sha256:", 7) ? digest
								 : digest + 7) >= cap)
		return ramp_err_set(err, RAMP_EIO, "model-dir", "path too long under %s", dir);
	return 0;
}

void mstore_file(const char *root, const char *model, const char *version, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%s/%s/model", root, model, version);
}

/* io_err for a failed commit step, with its temporary directory removed after errno is read. */
static int commit_fail(struct ramp_err *err, const char *what, const char *path, const char *tmp)
{
	int rc = io_err(err, what, path);

	rm_rf(tmp);
	return rc;
}

int mstore_commit(const char *root, const char *model, const char *version, const char *part,
		  const json_t *meta, struct ramp_err *err)
{
	char mdir[PATH_MAX], tmp[PATH_MAX + 200], file[PATH_MAX + 216], dst[PATH_MAX + 200],
		old[PATH_MAX + 200];
	struct stat st;
	int moved = 0;

	snprintf(mdir, sizeof(mdir), "%s/%s", root, model);
	snprintf(tmp, sizeof(tmp), "%s/.tmp-%s", mdir, version);
	snprintf(dst, sizeof(dst), "%s/%s", mdir, version);
	snprintf(old, sizeof(old), "%s/.old-%s", mdir, version);
	rm_rf(tmp);
	if (mstore_mkdir_p(tmp, 0755) != 0)
		return io_err(err, "create", tmp);
	if (fsync_path(part) != 0)
		return commit_fail(err, "sync", part, tmp);
	snprintf(file, sizeof(file), "%s/model", tmp);
	if (rename(part, file) != 0)
		return commit_fail(err, "move", part, tmp);
	chmod(file, 0444);
	snprintf(file, sizeof(file), "%s/manifest.json", tmp);
	if (json_dump_file(meta, file, JSON_INDENT(1) | JSON_SORT_KEYS) != 0 ||
	    fsync_path(file) != 0 || fsync_path(tmp) != 0)
		return commit_fail(err, "write", file, tmp);
	if (lstat(dst, &st) == 0) {
		rm_rf(old);
		if (rename(dst, old) != 0)
			return commit_fail(err, "replace", dst, tmp);
		moved = 1;
	}
	if (rename(tmp, dst) != 0) {
		int rc = commit_fail(err, "install", dst, tmp);
		if (moved)
			rename(old, dst);	/* the version that was there, back */
		return rc;
	}
	rm_rf(old);
	return fsync_path(mdir) != 0 ? io_err(err, "sync", mdir) : 0;
}

/* Reads manifest.json's digest of a version directory; 0 or -1. */
static int meta_digest(const char *vdir, char *digest, size_t cap)
{
	char path[PATH_MAX + 16];
	json_t *j;
	const char *d;
	int rc = -1;

	snprintf(path, sizeof(path), "%s/manifest.json", vdir);
	if ((j = json_load_file(path, 0, NULL)) == NULL)
		return -1;
	if ((d = json_string_value(json_object_get(j, "digest"))) != NULL && strlen(d) < cap) {
		memcpy(digest, d, strlen(d) + 1);
		rc = 0;
	}
	json_decref(j);
	return rc;
}

int mstore_link(const char *root, const char *model, const char *link, char *version,
		char *digest, size_t digest_cap)
{
	char path[PATH_MAX], target[PATH_MAX], file[PATH_MAX + 16], scratch[80];
	struct stat st;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s/%s", root, model, link);
	version[0] = 0;
	if ((n = readlink(path, target, sizeof(target) - 1)) <= 0)
		return RAMP_ENOTFOUND;
	target[n] = 0;
	if (!mstore_name_ok(target))
		return RAMP_ENOTFOUND;
	snprintf(file, sizeof(file), "%s/%s/%s/model", root, model, target);
	if (stat(file, &st) != 0 || !S_ISREG(st.st_mode))
		return RAMP_ENOTFOUND;
	snprintf(file, sizeof(file), "%s/%s/%s", root, model, target);
	if (digest ? meta_digest(file, digest, digest_cap) != 0
		   : meta_digest(file, scratch, sizeof(scratch)) != 0)
		return RAMP_ENOTFOUND;
	memcpy(version, target, (size_t)n + 1);
	return 0;
}

int mstore_has(const char *root, const char *model, const char *version, const char *digest)
{
	char vdir[PATH_MAX], file[PATH_MAX + 16], got[80];
	struct stat st;

	snprintf(vdir, sizeof(vdir), "%s/%s/%s", root, model, version);
	snprintf(file, sizeof(file), "%s/model", vdir);
	return mstore_name_ok(version) && stat(file, &st) == 0 && S_ISREG(st.st_mode) &&
	       meta_digest(vdir, got, sizeof(got)) == 0 && strcmp(got, digest) == 0;
}

int mstore_point(const char *root, const char *model, const char *link, const char *version,
		 struct ramp_err *err)
{
	char mdir[PATH_MAX], path[PATH_MAX + 16], tmp[PATH_MAX + 16];

	snprintf(mdir, sizeof(mdir), "%s/%s", root, model);
	snprintf(path, sizeof(path), "%s/%s", mdir, link);
	if (!version[0]) {
		if (unlink(path) != 0 && errno != ENOENT)
			return io_err(err, "remove", path);
	} else {
		snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", mdir, link);
		unlink(tmp);
		if (symlink(version, tmp) != 0)
			return io_err(err, "link", tmp);
		if (rename(tmp, path) != 0) {
			unlink(tmp);
			return io_err(err, "replace", path);
		}
	}
	return fsync_path(mdir) != 0 ? io_err(err, "sync", mdir) : 0;
}

int mstore_pending(const char *root, const char *model, const char *old, struct ramp_err *err)
{
	char mdir[PATH_MAX], path[PATH_MAX + 16], tmp[PATH_MAX + 16];
	FILE *f;

	snprintf(mdir, sizeof(mdir), "%s/%s", root, model);
	snprintf(path, sizeof(path), "%s/.pending", mdir);
	if (old == NULL) {
		if (unlink(path) != 0 && errno != ENOENT)
			return io_err(err, "remove", path);
		return fsync_path(mdir) != 0 ? io_err(err, "sync", mdir) : 0;
	}
	if (mstore_mkdir_p(mdir, 0755) != 0)
		return io_err(err, "create", mdir);
	snprintf(tmp, sizeof(tmp), "%s/.pending.tmp", mdir);
	if ((f = fopen(tmp, "w")) == NULL)
		return io_err(err, "write", tmp);
	if (fprintf(f, "%s\n", old) < 0 || fflush(f) != 0 || fsync(fileno(f)) != 0) {
		fclose(f);
		return io_err(err, "write", tmp);
	}
	fclose(f);
	if (rename(tmp, path) != 0)
		return io_err(err, "write", path);
	return fsync_path(mdir) != 0 ? io_err(err, "sync", mdir) : 0;
}

int mstore_pending_get(const char *root, const char *model, char old[MSTORE_VERSION_MAX])
{
	char path[PATH_MAX], text[MSTORE_VERSION_MAX + 8];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s/.pending", root, model);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	/* the whole file is the name: longer content is refused, not cut to a name */
	n = fread(text, 1, sizeof(text), f);
	fclose(f);
	if (n == sizeof(text))
		n = 0;
	text[n] = 0;
	while (n > 0 && isspace((unsigned char)text[n - 1]))
		text[--n] = 0;
	if (mstore_name_ok(text))
		memcpy(old, text, n + 1);
	else
		old[0] = 0;
	return 1;
}

void mstore_prune(const char *root, const char *model, const char *keep1, const char *keep2,
		  const char *keep_digest)
{
	char mdir[PATH_MAX], path[PATH_MAX + 300];
	struct dirent *de;
	DIR *d;

	snprintf(mdir, sizeof(mdir), "%s/%s", root, model);
	if ((d = opendir(mdir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		int drop = !strncmp(n, ".tmp-", 5) || !strncmp(n, ".old-", 5) ||
			   (mstore_name_ok(n) && strcmp(n, "current") && strcmp(n, "previous") &&
			    strcmp(n, keep1) && strcmp(n, keep2));
		if (!drop)
			continue;
		snprintf(path, sizeof(path), "%s/%s", mdir, n);
		rm_rf(path);
	}
	closedir(d);
	snprintf(mdir, sizeof(mdir), "%s/%s/.partial", root, model);
	if ((d = opendir(mdir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' ||
		    (keep_digest && !strcmp(de->d_name, strncmp(keep_digest, "sha256:", 7)
							      ? keep_digest : keep_digest + 7)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", mdir, de->d_name);
		unlink(path);
	}
	closedir(d);
}

void mstore_models(const char *root, void (*fn)(void *cls, const char *model), void *cls)
{
	DIR *d = opendir(root);
	struct dirent *de;
	struct stat st;
	char names[64][64];
	size_t n = 0;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL && n < 64)
		if (mstore_name_ok(de->d_name) && strlen(de->d_name) < sizeof(names[0]) &&
		    fstatat(dirfd(d), de->d_name, &st, 0) == 0 && S_ISDIR(st.st_mode))
			memcpy(names[n++], de->d_name, strlen(de->d_name) + 1);
	closedir(d);
	for (size_t i = 0; i < n; i++)
		fn(cls, names[i]);
}

int64_t mstore_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

double mstore_free_mb(const char *path)
{
	struct statvfs sv;

	if (statvfs(path, &sv) != 0)
		return -1;
	return (double)sv.f_bavail * (double)sv.f_frsize / (1024.0 * 1024.0);
}
