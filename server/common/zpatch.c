/*
 * zpatch.c - building and applying zstd patch-from deltas (zpatch.h).
 * File I/O and libzstd only; callers decide where files live, and what a
 * failure means (rampd skips a pair, the agent falls back to the full file).
 */
#include "common/zpatch.h"

#include "common/fdio.h"
#include "common/hex.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#define PIECE (128 * 1024)

int zpatch_window_log(int64_t old_size, int64_t new_size)
{
	uint64_t need = (uint64_t)(old_size > 0 ? old_size : 0) + (uint64_t)(new_size > 0 ? new_size : 0);
	int w = ZPATCH_WINDOW_LOG_MIN;

	while (w < 63 && ((uint64_t)1 << w) < need)
		w++;
	return w;
}

/* The old file mapped read-only; an empty file maps to nothing. */
struct map {
	void *p;
	size_t len;
};

static int map_open(const char *path, struct map *m, struct ramp_err *err)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	m->p = NULL;
	m->len = 0;
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return ramp_err_set(err, RAMP_EIO, "from", "cannot open %.200s: %s", path,
				    strerror(e ? e : EINVAL));
	}
	m->len = (size_t)st.st_size;
	if (m->len > 0) {
		m->p = mmap(NULL, m->len, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m->p == MAP_FAILED) {
			m->p = NULL;
			close(fd);
			return ramp_err_set(err, RAMP_EIO, "from", "cannot map %.200s: %s", path,
					    strerror(errno));
		}
		madvise(m->p, m->len, MADV_SEQUENTIAL);
	}
	close(fd);
	return 0;
}

static void map_close(struct map *m)
{
	if (m->p)
		munmap(m->p, m->len);
	m->p = NULL;
}

static int zfail(struct ramp_err *err, int code, const char *what, size_t z)
{
	return ramp_err_set(err, code, "delta", "%s: %s", what, ZSTD_getErrorName(z));
}

static int cctx_setup(ZSTD_CCtx *c, const struct zpatch_make_opts *o, const struct map *old,
		      int64_t new_size, int w, struct ramp_err *err)
{
	size_t z;

	if (ZSTD_isError(z = ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, o->level)) ||
	    ZSTD_isError(z = ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, w)) ||
	    ZSTD_isError(z = ZSTD_CCtx_setParameter(c, ZSTD_c_enableLongDistanceMatching, 1)) ||
	    ZSTD_isError(z = ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1)) ||
	    ZSTD_isError(z = ZSTD_CCtx_setPledgedSrcSize(c, (unsigned long long)new_size)) ||
	    ZSTD_isError(z = ZSTD_CCtx_refPrefix(c, old->p, old->len)))
		return zfail(err, RAMP_EINVAL, "zstd parameters", z);
	return 0;
}

static int compress_stream(ZSTD_CCtx *c, int in_fd, int out_fd, int64_t *written,
			   struct ramp_err *err)
{
	char *in = malloc(PIECE), *out = malloc(ZSTD_CStreamOutSize());
	size_t outcap = ZSTD_CStreamOutSize();
	int rc = in && out ? 0 : ramp_err_set(err, RAMP_ENOMEM, "", "out of memory");
	int last = 0;

	while (rc == 0 && !last) {
		ssize_t n = fd_read_some(in_fd, in, PIECE);
		ZSTD_inBuffer ib = {in, n > 0 ? (size_t)n : 0, 0};
		if (n < 0) {
			rc = ramp_err_set(err, RAMP_EIO, "to", "read: %s", strerror(errno));
			break;
		}
		last = n == 0;
		for (;;) {
			ZSTD_outBuffer ob = {out, outcap, 0};
			size_t left = ZSTD_compressStream2(c, &ob, &ib, last ? ZSTD_e_end : ZSTD_e_continue);
			if (ZSTD_isError(left)) {
				rc = zfail(err, RAMP_EINVAL, "compress", left);
				break;
			}
			if (fd_write_all(out_fd, out, ob.pos) != 0) {
				rc = ramp_err_set(err, RAMP_EIO, "", "write: %s", strerror(errno));
				break;
			}
			*written += (int64_t)ob.pos;
			if (last ? left == 0 : ib.pos == ib.size)
				break;
		}
	}
	free(in);
	free(out);
	return rc;
}

int zpatch_make(const char *old_path, const char *new_path, int out_fd,
		const struct zpatch_make_opts *o, struct zpatch_stats *st, struct ramp_err *err)
{
	struct map old;
	struct stat nst;
	ZSTD_CCtx *c = NULL;
	int in = -1, rc;

	memset(st, 0, sizeof(*st));
	if ((rc = map_open(old_path, &old, err)) != 0)
		return rc;
	st->old_size = (int64_t)old.len;
	in = open(new_path, O_RDONLY | O_CLOEXEC);
	if (in < 0 || fstat(in, &nst) != 0) {
		rc = ramp_err_set(err, RAMP_EIO, "to", "cannot open %.200s: %s", new_path,
				  strerror(errno));
		goto out;
	}
	st->new_size = (int64_t)nst.st_size;
	st->window_log = zpatch_window_log(st->old_size, st->new_size);
	if (st->old_size > o->max_bytes || st->new_size > o->max_bytes) {
		rc = ramp_err_set(err, RAMP_ETOOBIG, "", "a file is over the %lld byte cap",
				  (long long)o->max_bytes);
		goto out;
	}
	if (st->window_log > o->window_log_max || st->window_log > ZPATCH_WINDOW_LOG_MAX) {
		rc = ramp_err_set(err, RAMP_ETOOBIG, "", "needs window log %d, over the cap of %d",
				  st->window_log, o->window_log_max);
		goto out;
	}
	if ((c = ZSTD_createCCtx()) == NULL) {
		rc = ramp_err_set(err, RAMP_ENOMEM, "", "out of memory");
		goto out;
	}
	if ((rc = cctx_setup(c, o, &old, st->new_size, st->window_log, err)) == 0)
		rc = compress_stream(c, in, out_fd, &st->delta_size, err);
out:
	ZSTD_freeCCtx(c);
	if (in >= 0)
		close(in);
	map_close(&old);
	return rc;
}

struct sink {
	int fd;
	EVP_MD_CTX *md;
	int64_t size, max;
};

static int sink_put(struct sink *s, const void *p, size_t n, struct ramp_err *err)
{
	if (n == 0)
		return 0;
	s->size += (int64_t)n;
	if (s->size > s->max)
		return ramp_err_set(err, RAMP_ETOOBIG, "delta",
				    "the result grows past the expected %lld bytes",
				    (long long)s->max);
	if (fd_write_all(s->fd, p, n) != 0)
		return ramp_err_set(err, RAMP_EIO, "", "write: %s", strerror(errno));
	EVP_DigestUpdate(s->md, p, n);
	return 0;
}

static int decompress_stream(ZSTD_DCtx *d, int in_fd, struct sink *s, struct ramp_err *err)
{
	size_t incap = ZSTD_DStreamInSize(), outcap = ZSTD_DStreamOutSize(), left = 1;
	char *in = malloc(incap), *out = malloc(outcap);
	int rc = in && out ? 0 : ramp_err_set(err, RAMP_ENOMEM, "", "out of memory");
	int frames = 0;

	while (rc == 0) {
		ssize_t n = fd_read_some(in_fd, in, incap);
		ZSTD_inBuffer ib = {in, n > 0 ? (size_t)n : 0, 0};
		if (n < 0) {
			rc = ramp_err_set(err, RAMP_EIO, "delta", "read: %s", strerror(errno));
			break;
		}
		if (n == 0)
			break;
		while (rc == 0 && ib.pos < ib.size) {
			ZSTD_outBuffer ob = {out, outcap, 0};
			if (left == 0)
				rc = ramp_err_set(err, RAMP_EINVAL, "delta",
						  "bytes after the end of the delta's frame");
			else if (ZSTD_isError(left = ZSTD_decompressStream(d, &ob, &ib)))
				rc = zfail(err, RAMP_EINVAL, "delta does not apply", left);
			else
				rc = sink_put(s, out, ob.pos, err);
			frames += rc == 0 && left == 0;
		}
	}
	/* the last piece of output can sit in the context after the input ends */
	while (rc == 0 && left != 0 && frames == 0) {
		ZSTD_inBuffer ib = {in, 0, 0};
		ZSTD_outBuffer ob = {out, outcap, 0};
		if (ZSTD_isError(left = ZSTD_decompressStream(d, &ob, &ib)))
			rc = zfail(err, RAMP_EINVAL, "delta does not apply", left);
		else if ((rc = sink_put(s, out, ob.pos, err)) == 0 && ob.pos == 0 && left != 0)
			rc = ramp_err_set(err, RAMP_EINVAL, "delta", "the delta is truncated");
		frames += rc == 0 && left == 0;
	}
	free(in);
	free(out);
	return rc;
}

int zpatch_apply(const char *old_path, int delta_fd, int out_fd, int window_log_max,
		 int64_t max_out, struct zpatch_apply_result *res, struct ramp_err *err)
{
	struct map old;
	struct sink s = {out_fd, NULL, 0, max_out};
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	ZSTD_DCtx *d = NULL;
	size_t z;
	int rc;

	memset(res, 0, sizeof(*res));
	if ((rc = map_open(old_path, &old, err)) != 0)
		return rc;
	if ((d = ZSTD_createDCtx()) == NULL || (s.md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(s.md, EVP_sha256(), NULL) != 1) {
		rc = ramp_err_set(err, RAMP_ENOMEM, "", "out of memory");
		goto out;
	}
	if (ZSTD_isError(z = ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, window_log_max)) ||
	    ZSTD_isError(z = ZSTD_DCtx_refPrefix(d, old.p, old.len))) {
		rc = zfail(err, RAMP_EINVAL, "zstd parameters", z);
		goto out;
	}
	if ((rc = decompress_stream(d, delta_fd, &s, err)) != 0)
		goto out;
	if (EVP_DigestFinal_ex(s.md, md, &mdlen) != 1 || mdlen != 32) {
		rc = ramp_err_set(err, RAMP_EINTERNAL, "", "digest failed");
		goto out;
	}
	hex_encode(res->sha256, md, 32);
	res->out_size = s.size;
out:
	EVP_MD_CTX_free(s.md);
	ZSTD_freeDCtx(d);
	map_close(&old);
	return rc;
}
