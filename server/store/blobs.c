/*
 * blobs.c - the artifact store's files for the delta code (blobs.h).
 */
#include "store/blobs.h"

#include "common/err.h"
#include "common/hex.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
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

int blob_path(const char *data_dir, const char *digest, char *out, size_t len)
{
	int n;

	if (!digest_ok(digest))
		return RAMP_EINVAL;
	n = snprintf(out, len, "%s/artifacts/sha256/%.2s/%s", data_dir, digest + 7, digest + 7);
	return n < 0 || (size_t)n >= len ? RAMP_EIO : 0;
}

int64_t blob_size(const char *data_dir, const char *digest)
{
	char path[PATH_MAX];
	struct stat st;

	if (blob_path(data_dir, digest, path, sizeof(path)) != 0 || stat(path, &st) != 0 ||
	    !S_ISREG(st.st_mode))
		return -1;
	return (int64_t)st.st_size;
}

static int mkdir_p(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) != 0 && errno != EEXIST) {
			*p = '/';
			return RAMP_EIO;
		}
		*p = '/';
	}
	return mkdir(path, 0755) != 0 && errno != EEXIST ? RAMP_EIO : 0;
}

int blob_temp(const char *data_dir, char *tmp, size_t len)
{
	int n = snprintf(tmp, len, "%s/artifacts/tmp", data_dir), fd;

	if (n < 0 || (size_t)n >= len || mkdir_p(tmp) != 0)
		return -1;
	n = snprintf(tmp, len, "%s/artifacts/tmp/delta-XXXXXX", data_dir);
	if (n < 0 || (size_t)n >= len)
		return -1;
	if ((fd = mkostemp(tmp, O_CLOEXEC)) >= 0)
		fchmod(fd, 0644);
	return fd;
}

static int hash_fd(int fd, char hex[65])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char buf[65536], out[EVP_MAX_MD_SIZE];
	unsigned int olen = 0;
	ssize_t n;
	int rc = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 ? 0 : RAMP_ENOMEM;

	if (rc == 0 && lseek(fd, 0, SEEK_SET) != 0)
		rc = RAMP_EIO;
	while (rc == 0 && (n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = RAMP_EIO;
		else
			EVP_DigestUpdate(md, buf, (size_t)n);
	}
	if (rc == 0 && (EVP_DigestFinal_ex(md, out, &olen) != 1 || olen != 32))
		rc = RAMP_EINTERNAL;
	if (rc == 0)
		hex_encode(hex, out, 32);
	EVP_MD_CTX_free(md);
	return rc;
}

int blob_commit(const char *data_dir, int fd, const char *tmp, char digest[72])
{
	char hex[65], path[PATH_MAX], *slash;
	int rc;

	if ((rc = hash_fd(fd, hex)) != 0 || fsync(fd) != 0)
		return rc ? rc : RAMP_EIO;
	snprintf(digest, 72, "sha256:%s", hex);
	if (blob_path(data_dir, digest, path, sizeof(path)) != 0)
		return RAMP_EIO;
	slash = strrchr(path, '/');
	*slash = '\0';
	rc = mkdir_p(path);
	*slash = '/';
	if (rc != 0 || rename(tmp, path) != 0)
		return RAMP_EIO;
	return 0;
}
