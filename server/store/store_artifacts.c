/*
 * store_artifacts.c - artifacts kept in PostgreSQL (schema/019_artifacts.sql)
 * and the local files every replica serves them from.
 *
 * The files under $RAMP_DATA_DIR/artifacts/sha256/ are what downloads are
 * served from (straight from the descriptor, ranges included). With the
 * disk store they are the artifacts; with the database store they are a
 * cache: an upload is written to the database first (its 2xx says every
 * replica has it), and a replica that lacks a file fetches it chunk by
 * chunk into a temporary file, checks its digest and gives it its name, so
 * memory stays at one chunk whatever the size.
 */
#include "store/store.h"

#include "common/fdio.h"
#include "common/hex.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (1 << 20)

int artifact_file_path(const char *data_dir, const char *hex, char *out, size_t len,
		       bool make_dir)
{
	int n = snprintf(out, len, "%s/artifacts/sha256/%.2s", data_dir, hex);

	if (n < 0 || (size_t)n >= len)
		return RAMP_EINVAL;
	if (make_dir) {
		char *p = out + strlen(data_dir) + 1;
		while ((p = strchr(p, '/')) != NULL) {
			*p = '\0';
			if (mkdir(out, 0755) != 0 && errno != EEXIST)
				return RAMP_EIO;
			*p++ = '/';
		}
		if (mkdir(out, 0755) != 0 && errno != EEXIST)
			return RAMP_EIO;
	}
	n = snprintf(out, len, "%s/artifacts/sha256/%.2s/%s", data_dir, hex, hex);
	return n < 0 || (size_t)n >= len ? RAMP_EINVAL : 0;
}

static int read_full(int fd, unsigned char *buf, size_t want, size_t *got)
{
	*got = 0;
	while (*got < want) {
		ssize_t n = read(fd, buf + *got, want - *got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return RAMP_EIO;
		if (n == 0)
			break;
		*got += (size_t)n;
	}
	return 0;
}

int store_artifact_put_fd(struct db *db, const char *hex, int fd, int64_t size, bool *created)
{
	unsigned char *buf = malloc(CHUNK), h[32];
	char digest[72], sz[24], seq[16], chunk_size[16];
	struct dbconn *c = NULL;
	PGresult *res = NULL;
	int rc;

	*created = false;
	if (buf == NULL)
		return RAMP_ENOMEM;
	snprintf(digest, sizeof(digest), "sha256:%s", hex);
	snprintf(sz, sizeof(sz), "%lld", (long long)size);
	snprintf(chunk_size, sizeof(chunk_size), "%d", CHUNK);
	if ((rc = db_tx_begin(db, &c)) != 0)
		goto out;
	{
		const char *p[] = {digest, sz, chunk_size};
		rc = db_query(c, &res,
			      "INSERT INTO artifact_objects (digest, size, chunk_size) VALUES ($1, $2, $3)"
			      " ON CONFLICT (digest) DO NOTHING RETURNING 1", 3, p);
	}
	if (rc || PQntuples(res) == 0)
		goto done; /* there already: content-addressed, same bytes */
	if (lseek(fd, 0, SEEK_SET) != 0) {
		rc = RAMP_EIO;
		goto done;
	}
	for (int i = 0; rc == 0; i++) {
		size_t got;
		if ((rc = read_full(fd, buf, CHUNK, &got)) != 0 || got == 0)
			break;
		if (EVP_Digest(buf, got, h, NULL, EVP_sha256(), NULL) != 1) {
			rc = RAMP_ENOMEM;
			break;
		}
		snprintf(seq, sizeof(seq), "%d", i);
		{
			const char *p[] = {(const char *)h, (const char *)buf};
			int len[] = {32, (int)got}, fmt[] = {1, 1};
			rc = db_query_bin(c, NULL, "INSERT INTO artifact_chunks (hash, data) VALUES ($1, $2)"
					  " ON CONFLICT (hash) DO NOTHING", 2, p, len, fmt, 0);
		}
		if (rc == 0) {
			const char *p[] = {digest, seq, (const char *)h};
			int len[] = {0, 0, 32}, fmt[] = {0, 0, 1};
			rc = db_query_bin(c, NULL, "INSERT INTO artifact_parts (digest, seq, chunk)"
					  " VALUES ($1, $2, $3)", 3, p, len, fmt, 0);
		}
	}
	if (rc == 0)
		*created = true;
done:
	PQclear(res);
	rc = db_tx_end(db, c, rc);
out:
	free(buf);
	return rc;
}

int store_artifact_size(struct db *db, const char *hex, int64_t *size)
{
	char digest[72];
	const char *p[] = {digest};
	struct dbconn *c;
	PGresult *res = NULL;
	int rc;

	snprintf(digest, sizeof(digest), "sha256:%s", hex);
	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = db_query(c, &res, "SELECT size FROM artifact_objects WHERE digest = $1", 1, p);
	if (rc == 0 && PQntuples(res) == 0)
		rc = RAMP_ENOTFOUND;
	else if (rc == 0)
		*size = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	db_release(db, c);
	return rc;
}

/* Copies the database's sha256:<hex> into fd, checking its digest. */
static int copy_out(struct db *db, const char *hex, int fd)
{
	char digest[72], seq[16], got_hex[65];
	unsigned char md[32];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	struct dbconn *c = NULL;
	int64_t size = 0, want;
	int rc;

	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return RAMP_ENOMEM;
	}
	if ((rc = store_artifact_size(db, hex, &want)) != 0 || (rc = db_acquire(db, &c)) != 0)
		goto out;
	snprintf(digest, sizeof(digest), "sha256:%s", hex);
	/* one chunk per query: memory stays at one chunk */
	for (int i = 0; rc == 0 && size < want; i++) {
		PGresult *res = NULL;
		const char *p[] = {digest, seq};
		snprintf(seq, sizeof(seq), "%d", i);
		rc = db_query_bin(c, &res, "SELECT k.data FROM artifact_parts p JOIN artifact_chunks k"
				  " ON k.hash = p.chunk WHERE p.digest = $1 AND p.seq = $2::integer",
				  2, p, NULL, NULL, 1);
		if (rc == 0 && PQntuples(res) != 1)
			rc = RAMP_EIO;
		if (rc == 0) {
			const char *d = PQgetvalue(res, 0, 0);
			size_t n = (size_t)PQgetlength(res, 0, 0);
			EVP_DigestUpdate(ctx, d, n);
			rc = fd_write_all(fd, d, n);
			size += (int64_t)n;
		}
		PQclear(res);
	}
	db_release(db, c);
	if (rc == 0 && (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || size != want ||
			strcmp(hex_encode(got_hex, md, 32), hex) != 0)) {
		log_error("msg=\"artifact in the database does not match its digest\" digest=sha256:%s",
			  hex);
		rc = RAMP_EIO;
	}
out:
	EVP_MD_CTX_free(ctx);
	return rc;
}

int store_artifact_local(struct db *db, const char *data_dir, bool in_db, const char *hex,
			 int *fd_out, int64_t *size_out)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	struct stat st;
	int fd, rc;

	if ((rc = artifact_file_path(data_dir, hex, path, sizeof(path), false)) != 0)
		return rc;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		*fd_out = fd;
		*size_out = st.st_size;
		return 0;
	}
	if (fd >= 0)
		close(fd);
	if (!in_db)
		return RAMP_ENOTFOUND;
	/* not here yet: from the database into a temporary file, then named */
	if ((rc = artifact_file_path(data_dir, hex, path, sizeof(path), true)) != 0)
		return rc;
	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp))
		return RAMP_EINVAL;
	if ((fd = mkstemp(tmp)) < 0)
		return RAMP_EIO;
	rc = copy_out(db, hex, fd);
	if (rc == 0 && (fsync(fd) != 0 || rename(tmp, path) != 0))
		rc = RAMP_EIO;
	if (rc) {
		unlink(tmp);
		close(fd);
		return rc;
	}
	if (fstat(fd, &st) != 0 || lseek(fd, 0, SEEK_SET) != 0) {
		close(fd);
		return RAMP_EIO;
	}
	*fd_out = fd;
	*size_out = st.st_size;
	return 0;
}

int store_artifact_import(struct db *db, const char *data_dir, const char *hex)
{
	char path[PATH_MAX], got[65];
	struct stat st;
	bool created;
	int fd, rc;

	if ((rc = artifact_file_path(data_dir, hex, path, sizeof(path), false)) != 0)
		return rc;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? RAMP_ENOTFOUND : RAMP_EIO;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return RAMP_ENOTFOUND;
	}
	/* the file's name is its digest; its bytes must say so too */
	rc = fd_sha256(fd, got, NULL);
	if (rc == 0 && strcmp(got, hex) != 0) {
		log_error("msg=\"artifact file does not match its name\" path=%s", path);
		rc = RAMP_ENOTFOUND;
	}
	if (rc == 0 && (rc = store_artifact_put_fd(db, hex, fd, (int64_t)st.st_size, &created)) == 0 &&
	    created)
		log_info("msg=\"artifact file imported into the database\" digest=sha256:%s", hex);
	close(fd);
	return rc;
}
