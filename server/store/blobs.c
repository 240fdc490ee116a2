/*
 * blobs.c - the artifact store's objects as files for the delta code (blobs.h).
 */
#include "store/blobs.h"

#include "app.h"
#include "common/fdio.h"
#include "common/err.h"
#include "common/hex.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool digest_ok(const char *d)
{
	return d && strncmp(d, "sha256:", 7) == 0 && strlen(d) == 71 &&
	       strspn(d + 7, "0123456789abcdef") == 64;
}

int blob_local(struct app *app, const char *digest, char *out, size_t len)
{
	int64_t size;
	int fd, rc;

	if (!digest_ok(digest))
		return RAMP_EINVAL;
	if ((rc = store_artifact_local(app->db, app->cfg.data_dir, app->cfg.artifacts_in_db,
				       digest + 7, &fd, &size)) != 0)
		return rc;
	close(fd);
	return artifact_file_path(app->cfg.data_dir, digest + 7, out, len, false);
}

int64_t blob_size(struct app *app, const char *digest)
{
	char path[PATH_MAX];
	struct stat st;
	int64_t size;

	if (!digest_ok(digest) ||
	    artifact_file_path(app->cfg.data_dir, digest + 7, path, sizeof(path), false) != 0)
		return -1;
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
		return (int64_t)st.st_size;
	if (app->cfg.artifacts_in_db && store_artifact_size(app->db, digest + 7, &size) == 0)
		return size;
	return -1;
}

int blob_remove(struct app *app, const char *digest)
{
	char path[PATH_MAX];

	if (!digest_ok(digest) ||
	    artifact_file_path(app->cfg.data_dir, digest + 7, path, sizeof(path), false) != 0)
		return RAMP_EINVAL;
	return unlink(path) == 0 || errno == ENOENT ? 0 : RAMP_EIO;
}

int blob_temp(struct app *app, char *tmp, size_t len)
{
	int n, fd;

	/* beside the objects (one filesystem, so the rename names it) */
	n = snprintf(tmp, len, "%s/artifacts", app->cfg.data_dir);
	if (n < 0 || (size_t)n >= len || (mkdir(tmp, 0755) != 0 && errno != EEXIST))
		return -1;
	n = snprintf(tmp, len, "%s/artifacts/tmp", app->cfg.data_dir);
	if (n < 0 || (size_t)n >= len || (mkdir(tmp, 0755) != 0 && errno != EEXIST))
		return -1;
	n = snprintf(tmp, len, "%s/artifacts/tmp/delta-XXXXXX", app->cfg.data_dir);
	if (n < 0 || (size_t)n >= len)
		return -1;
	if ((fd = mkostemp(tmp, O_CLOEXEC)) >= 0)
		fchmod(fd, 0644);
	return fd;
}

int blob_commit(struct app *app, int fd, const char *tmp, char digest[72])
{
	char hex[65], path[PATH_MAX];
	struct stat st;
	bool created;
	int rc;

	if ((rc = fd_sha256(fd, hex, NULL)) != 0 || fsync(fd) != 0 || fstat(fd, &st) != 0)
		return rc ? rc : RAMP_EIO;
	snprintf(digest, 72, "sha256:%s", hex);
	/* the database first: once named here, the object counts as stored */
	if (app->cfg.artifacts_in_db &&
	    (rc = store_artifact_put_fd(app->db, hex, fd, (int64_t)st.st_size, &created)) != 0)
		return rc;
	if (artifact_file_path(app->cfg.data_dir, hex, path, sizeof(path), true) != 0 ||
	    rename(tmp, path) != 0)
		return RAMP_EIO;
	return 0;
}
