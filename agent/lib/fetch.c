/*
 * fetch.c - Range-resumed downloads with libcurl (fetch.h).
 *
 * The part file is opened for append at its current size and a request for
 * "bytes=<size>-" is sent.  206 appends; 200 means the server sent the whole
 * file, so the part file is truncated first; 416 means there is nothing past
 * our size, which is treated as a stale part file and restarted once.
 */
#include "fetch.h"

#include "common/hex.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct sink {
	int fd;
	int64_t size, max;
	int status_seen, restarted, too_big, io_error, no_space;
	CURL *h;
	EVP_MD_CTX *md;		/* SHA-256 of the part file's bytes so far */
	int md_ok;
};

/* Starts the digest over (an empty part file). */
static void md_restart(struct sink *s)
{
	s->md_ok = s->md && EVP_DigestInit_ex(s->md, EVP_sha256(), NULL);
}

/* Digests the bytes already in part (a resumed download); md_ok 0 on a read error. */
static void md_prefix(struct sink *s, const char *part)
{
	unsigned char buf[1 << 16];
	int64_t left = s->size;
	int fd;

	md_restart(s);
	if (!s->md_ok || left == 0)
		return;
	if ((fd = open(part, O_RDONLY | O_CLOEXEC)) < 0) {
		s->md_ok = 0;
		return;
	}
	while (left > 0 && s->md_ok) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || !EVP_DigestUpdate(s->md, buf, (size_t)n))
			s->md_ok = 0;
		else
			left -= n;
	}
	close(fd);
}

static size_t on_data(char *data, size_t size, size_t n, void *cls)
{
	struct sink *s = cls;
	size_t len = size * n, off = 0;

	if (!s->status_seen) {
		long code = 0;
		curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &code);
		s->status_seen = 1;
		if (code == 200 && s->size > 0) { /* Range ignored: start over */
			if (ftruncate(s->fd, 0) != 0 || lseek(s->fd, 0, SEEK_SET) != 0)
				return s->io_error = 1, 0;
			s->size = 0;
			s->restarted = 1;
			md_restart(s);
		} else if (code != 200 && code != 206) {
			return 0; /* an error body is not file content */
		}
	}
	if (s->size + (int64_t)len > s->max)
		return s->too_big = 1, 0;
	while (off < len) {
		ssize_t w = write(s->fd, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return s->io_error = 1, s->no_space = w < 0 && (errno == ENOSPC || errno == EDQUOT), 0;
		off += (size_t)w;
	}
	s->size += (int64_t)len;
	if (s->md_ok && !EVP_DigestUpdate(s->md, data, len))
		s->md_ok = 0;
	return len;
}

static int on_progress(void *cls, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	const volatile sig_atomic_t *cancel = cls;
	return cancel && *cancel;
}

/* One attempt; the curl result with *code set to the HTTP status. */
static CURLcode attempt(const struct fetch_req *req, struct sink *s, long *code)
{
	struct curl_slist *hdrs = NULL;
	char auth[300], range[64];
	CURLcode cc;

	s->h = curl_easy_init();
	if (s->h == NULL)
		return CURLE_OUT_OF_MEMORY;
	if (req->token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", req->token);
		hdrs = curl_slist_append(hdrs, auth);
	}
	if (s->size > 0) {
		snprintf(range, sizeof(range), "%lld-", (long long)s->size);
		curl_easy_setopt(s->h, CURLOPT_RANGE, range);
	}
	if (req->tls)
		ctl_apply_tls(req->tls, s->h, req->with_cert);
	curl_easy_setopt(s->h, CURLOPT_URL, req->url);
	curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(s->h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(s->h, CURLOPT_UNRESTRICTED_AUTH, 0L);
	curl_easy_setopt(s->h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(s->h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(s->h, CURLOPT_LOW_SPEED_TIME, 30L);
	curl_easy_setopt(s->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(s->h, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(s->h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(s->h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(s->h, CURLOPT_XFERINFODATA, (void *)req->cancel);
	cc = curl_easy_perform(s->h);
	*code = 0;
	curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, code);
	curl_easy_cleanup(s->h);
	curl_slist_free_all(hdrs);
	return cc;
}

int fetch_resume(const struct fetch_req *req, const char *part, struct fetch_result *res,
		 struct ramp_err *err)
{
	struct sink s = {.max = req->max_bytes};
	struct stat st;
	long code = 0;
	CURLcode cc;
	int rc = 0;

	memset(res, 0, sizeof(*res));
	if ((s.fd = open(part, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) < 0)
		return ramp_err_set(err, RAMP_EIO, "cache", "cannot open %s: %s", part,
				    strerror(errno));
	s.size = fstat(s.fd, &st) == 0 ? (int64_t)st.st_size : 0;
	res->resumed_from = s.size;
	s.md = EVP_MD_CTX_new();
	md_prefix(&s, part);
	cc = attempt(req, &s, &code);
	if (code == 416 && s.size > 0) { /* nothing past our bytes: the part file is stale */
		if (ftruncate(s.fd, 0) == 0) {
			s.size = 0;
			s.status_seen = 0;
			res->resumed_from = 0;
			md_restart(&s);
			cc = attempt(req, &s, &code);
		}
	}
	res->http_status = (int)code;
	if (s.restarted)
		res->resumed_from = 0;
	if (s.too_big) {
		rc = ramp_err_set(err, RAMP_ETOOBIG, "file", "file is larger than %lld bytes",
				  (long long)req->max_bytes);
		unlink(part);
		s.size = 0;
	} else if (s.no_space) {
		rc = ramp_err_set(err, RAMP_EIO, "space", "no space: disk full after %lld bytes of %s",
				  (long long)s.size, req->url);
	} else if (s.io_error) {
		rc = ramp_err_set(err, RAMP_EIO, "cache", "cannot write %s", part);
	} else if (code != 0 && code != 200 && code != 206) {
		rc = ramp_err_set(err, RAMP_EIO, "url", "download answered %ld", code);
	} else if (cc != CURLE_OK) {
		rc = ramp_err_set(err, RAMP_EIO, "url", "download broke off after %lld bytes: %s",
				  (long long)s.size, curl_easy_strerror(cc));
	}
	res->bytes = s.size;
	if (rc == 0 && s.md_ok) {
		unsigned char md[32];
		unsigned int mdlen = 0;
		if (EVP_DigestFinal_ex(s.md, md, &mdlen) && mdlen == 32) {
			hex_encode(res->sha256, md, 32);
			res->hashed = 1;
		}
	}
	EVP_MD_CTX_free(s.md);
	close(s.fd);
	return rc;
}
