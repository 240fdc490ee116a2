/*
 * artifacts.c - the content-addressed artifact store:
 * PUT/GET/HEAD /v1/artifacts/sha256:<hex>.
 *
 * Where artifacts live is store/store_artifacts.c's: the files below, or
 * (RAMP_ARTIFACT_STORE=database) the database, the files then being each
 * replica's copy, fetched on first use.
 *
 * An upload streams (ROUTE_STREAM_BODY) into an anonymous temporary file
 * under $RAMP_DATA_DIR/artifacts/tmp (O_TMPFILE; a named mkstemp file where
 * the filesystem lacks it) while SHA-256 runs over the same bytes, so memory
 * stays flat whatever the size. Only a body whose digest matches its URL is
 * given a name, artifacts/sha256/<2 hex>/<64 hex>; a mismatch, a body over
 * RAMP_ARTIFACT_MAX or a client that goes away leaves nothing behind. Files
 * never change once named, so the digest is the ETag and downloads are
 * served straight from the file descriptor, with single byte ranges
 * (domain/byterange).
 */
#include "api/api.h"

#include "common/fdio.h"
#include "common/hex.h"
#include "common/log.h"
#include "domain/byterange.h"
#include "engine/deltas.h"
#include "snapshot/snapshot.h"
#include "store/blobs.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct upload {
	int fd;
	bool anonymous;          /* O_TMPFILE: nothing to unlink */
	char tmp[PATH_MAX];      /* the named temporary file otherwise */
	EVP_MD_CTX *md;
	int64_t size;
	const char *hex;         /* expected digest, from the URL */
};

/* The 64 hex of "sha256:<64 lowercase hex>", or NULL. */
static const char *digest_hex(const char *param)
{
	if (param == NULL || strncmp(param, "sha256:", 7) != 0 || strlen(param) != 71 ||
	    strspn(param + 7, "0123456789abcdef") != 64)
		return NULL;
	return param + 7;
}

static int object_path(struct req *r, const char *hex, char *out, size_t len, bool make_dir)
{
	return artifact_file_path(r->app->cfg.data_dir, hex, out, len, make_dir) ? RAMP_EIO : 0;
}

/* mkdir -p for a path under the data directory; 0, or RAMP_EIO with errno. */
static int mkdirs(char *path)
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

static void upload_discard(struct upload *u)
{
	if (u->fd >= 0)
		close(u->fd);
	u->fd = -1;
	if (!u->anonymous && u->tmp[0])
		unlink(u->tmp);
	u->tmp[0] = '\0';
	EVP_MD_CTX_free(u->md);
	u->md = NULL;
}

/* r->cleanup: a request that ends without naming the file removes it. */
static void upload_cleanup(struct req *r)
{
	if (r->stream)
		upload_discard(r->stream);
}

static int open_temp(struct req *r, struct upload *u)
{
	char dir[PATH_MAX];
	int n = snprintf(dir, sizeof(dir), "%s/artifacts/tmp", r->app->cfg.data_dir);

	if (n < 0 || (size_t)n >= sizeof(dir) || mkdirs(dir) != 0)
		return RAMP_EIO;
#ifdef O_TMPFILE
	u->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
	if (u->fd >= 0) {
		u->anonymous = true;
		return 0;
	}
#endif
	n = snprintf(u->tmp, sizeof(u->tmp), "%s/upload-XXXXXX", dir);
	if (n < 0 || (size_t)n >= sizeof(u->tmp))
		return RAMP_EIO;
	u->fd = mkostemp(u->tmp, O_CLOEXEC);
	if (u->fd < 0)
		u->tmp[0] = '\0';
	else
		fchmod(u->fd, 0644);
	return u->fd < 0 ? RAMP_EIO : 0;
}

static void reply_too_big(struct req *r)
{
	http_reply_problem(r, 413, NULL, "artifact exceeds the limit of %" PRId64 " bytes",
			   r->app->cfg.artifact_max);
}

static void reply_io(struct req *r, const char *what, int err)
{
	log_error("msg=\"artifact %s failed\" error=\"%s\"", what, strerror(err));
	if (err == ENOSPC || err == EDQUOT)
		http_reply_problem(r, 507, NULL, "no space left for the artifact");
	else
		http_reply_problem(r, 500, NULL, "could not store the artifact");
}

/* Sets up an upload once the headers are in; replies when it is refused. */
static struct upload *upload_begin(struct req *r)
{
	const char *hex = digest_hex(r->params[0]), *cl = http_header(r, "Content-Length");
	struct upload *u;

	if (hex == NULL) {
		http_reply_problem(r, 422, "digest",
				   "artifact path must be sha256:<64 lowercase hex>");
		return NULL;
	}
	if (cl && strtoll(cl, NULL, 10) > r->app->cfg.artifact_max) {
		reply_too_big(r);
		return NULL;
	}
	if ((u = arena_calloc(r->arena, 1, sizeof(*u))) == NULL) {
		http_reply_err(r, RAMP_ENOMEM, NULL);
		return NULL;
	}
	u->fd = -1;
	u->hex = hex;
	r->stream = u;
	r->cleanup = upload_cleanup;
	if ((u->md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(u->md, EVP_sha256(), NULL) != 1) {
		http_reply_err(r, RAMP_ENOMEM, NULL);
		upload_discard(u);
		return NULL;
	}
	if (open_temp(r, u) != 0) {
		reply_io(r, "temporary file", errno);
		upload_discard(u);
		return NULL;
	}
	return u;
}

void api_artifact_chunk(struct req *r, const char *data, size_t len)
{
	struct upload *u = r->stream;

	if (u == NULL && (u = upload_begin(r)) == NULL)
		return;
	if (len == 0 || u->fd < 0)
		return;
	u->size += (int64_t)len;
	if (u->size > r->app->cfg.artifact_max) {
		upload_discard(u);
		reply_too_big(r);
		return;
	}
	if (fd_write_all(u->fd, data, len) != 0) {
		int e = errno;
		upload_discard(u);
		reply_io(r, "write", e);
		return;
	}
	EVP_DigestUpdate(u->md, data, len);
}

/* Gives the verified temporary file its name; *created false when it was
 * already there (content-addressed: same name, same bytes). */
static int upload_link(struct req *r, struct upload *u, bool *created)
{
	char path[PATH_MAX], proc[64];
	struct stat st;

	*created = false;
	if (object_path(r, u->hex, path, sizeof(path), true) != 0)
		return RAMP_EIO;
	if (stat(path, &st) == 0)
		return 0;
	if (fsync(u->fd) != 0)
		return RAMP_EIO;
	if (u->anonymous) {
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", u->fd);
		if (linkat(u->fd, "", AT_FDCWD, path, AT_EMPTY_PATH) != 0 &&
		    linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) != 0)
			return errno == EEXIST ? 0 : RAMP_EIO;
	} else {
		if (rename(u->tmp, path) != 0)
			return RAMP_EIO;
		u->tmp[0] = '\0';
	}
	*created = true;
	return 0;
}

void api_artifact_put(struct req *r)
{
	struct upload *u = r->stream;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char hex[65], digest[72];
	bool created = false, created_here;
	int rc;

	if (u == NULL && (u = upload_begin(r)) == NULL)
		return;
	if (EVP_DigestFinal_ex(u->md, md, &mdlen) != 1 || mdlen != 32) {
		upload_discard(u);
		http_reply_err(r, RAMP_EINTERNAL, NULL);
		return;
	}
	hex_encode(hex, md, 32);
	if (strcmp(hex, u->hex) != 0) {
		upload_discard(u);
		http_reply_problem(r, 422, "digest",
				   "the body's digest is sha256:%s, not the sha256:%s in the path",
				   hex, u->hex);
		return;
	}
	/* the database store first: its 2xx means every replica can serve it */
	if (r->app->cfg.artifacts_in_db &&
	    (rc = store_artifact_put_fd(r->app->db, hex, u->fd, u->size, &created)) != 0) {
		upload_discard(u);
		http_reply_err(r, rc, NULL);
		return;
	}
	if (upload_link(r, u, &created_here) != 0) {
		int e = errno;
		upload_discard(u);
		reply_io(r, "store", e);
		return;
	}
	if (!r->app->cfg.artifacts_in_db)
		created = created_here;
	upload_discard(u);
	snprintf(digest, sizeof(digest), "sha256:%s", hex);
	/* the file is in place even when the audit write fails; a retry is a 200 */
	if ((rc = store_artifact_audit(r->app->db, r->auth.name, digest, u->size, created)) != 0) {
		http_reply_err(r, rc, NULL);
		return;
	}
	http_reply_json(r, created ? 201 : 200,
			json_pack("{s:s, s:I, s:s+}", "digest", digest, "size", (json_int_t)u->size,
				  "url", "/v1/artifacts/", digest));
}

/* True when an If-None-Match / If-Range value names etag (or "*"). */
static bool etag_listed(const char *h, const char *etag)
{
	size_t n = strlen(etag);

	for (const char *p = h; p && *p;) {
		p += strspn(p, " \t,");
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (*p == '*' || (strncmp(p, etag, n) == 0 && strchr(" \t,", p[n])))
			return true;
		p = strchr(p, ',');
	}
	return false;
}

/* A delta's download reaching its end counts its saving for /metrics. */
static void count_delta(struct req *r, const char *digest)
{
	char to[72];
	int64_t size, full;

	if (snapshot_delta_target(http_snapshot(r), digest, to, &size) &&
	    (full = blob_size(r->app, to)) >= 0)
		deltas_count_served(full - size);
}

static void serve(struct req *r, int fd, uint64_t size, const char *etag)
{
	const char *if_range = http_header(r, "If-Range");
	const char *range =
		if_range && strcmp(if_range, etag) != 0 ? NULL : http_header(r, "Range");
	uint64_t off = 0, len = size;
	enum byterange_kind k = byterange_parse(range, size, &off, &len);
	struct MHD_Response *resp;
	char cr[96];

	if (k == BYTERANGE_UNSATISFIABLE) {
		close(fd);
		snprintf(cr, sizeof(cr), "bytes */%" PRIu64, size);
		http_add_header(r, "Content-Range", cr);
		http_reply_problem(r, 416, "Range", "range %.64s is outside the %" PRIu64 " bytes",
				   range, size);
		return;
	}
	resp = MHD_create_response_from_fd_at_offset64(len, fd, off);
	if (resp == NULL) {
		close(fd);
		http_reply_err(r, RAMP_ENOMEM, NULL);
		return;
	}
	MHD_add_response_header(resp, "Content-Type", "application/octet-stream");
	if (k == BYTERANGE_ONE) {
		snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, off,
			 off + len - 1, size);
		http_add_header(r, "Content-Range", cr);
	}
	r->mhd_response = resp;
	r->status = k == BYTERANGE_ONE ? 206 : 200;
	r->replied = true;
	if (off + len == size) /* the last byte: a delta (perhaps resumed) is complete */
		count_delta(r, r->params[0]);
}

void api_artifact_get(struct req *r)
{
	const char *hex = digest_hex(r->params[0]), *inm = http_header(r, "If-None-Match");
	char etag[80];
	int64_t size;
	int fd, rc;

	if (hex == NULL) {
		api_reply_not_found(r, "digest", "artifact", r->params[0]);
		return;
	}
	rc = store_artifact_local(r->app->db, r->app->cfg.data_dir, r->app->cfg.artifacts_in_db, hex,
				  &fd, &size);
	if (rc == RAMP_ENOTFOUND) {
		api_reply_not_found(r, "digest", "artifact", r->params[0]);
		return;
	}
	if (rc) {
		http_reply_err(r, rc, NULL);
		return;
	}
	snprintf(etag, sizeof(etag), "\"sha256:%s\"", hex);
	http_add_header(r, "ETag", etag);
	http_add_header(r, "Accept-Ranges", "bytes");
	if (inm && etag_listed(inm, etag)) {
		close(fd);
		http_reply_empty(r, 304);
		return;
	}
	serve(r, fd, (uint64_t)size, etag);
}

/* True when the artifact store holds sha256:<hex>: the database's, or
 * this replica's files (disk). */
static bool artifact_stored(const struct app *app, const char *hex)
{
	char path[PATH_MAX];
	struct stat st;
	int64_t size;

	/* with the database store, a file of this replica from before it (moved
	 * off the embedded database) goes into the database now, so every
	 * replica can serve what a stable version or rollout names */
	if (app->cfg.artifacts_in_db)
		return store_artifact_size(app->db, hex, &size) == 0 ||
		       store_artifact_import(app->db, app->cfg.data_dir, hex) == 0;
	return artifact_file_path(app->cfg.data_dir, hex, path, sizeof(path), false) == 0 &&
	       stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int api_manifest_reachable(struct req *r, const char *model, const char *version,
			   struct ramp_err *err)
{
	json_t *rec = NULL, *v;
	size_t i;
	int rc = store_manifest_signable(r->app->db, model, version, &rec);

	/* no such manifest, expired, no valid signature: the caller's own
	 * path answers those, in its words */
	if (rc == RAMP_ENOTFOUND || rc == RAMP_EINVAL)
		return 0;
	if (rc)
		return rc;
	json_array_foreach(json_object_get(rec, "variants"), i, v) {
		const char *d = json_string_value(json_object_get(v, "digest"));

		if (json_string_value(json_object_get(v, "url")) != NULL || d == NULL)
			continue;
		if (strncmp(d, "sha256:", 7) == 0 && artifact_stored(r->app, d + 7))
			continue;
		rc = ramp_err_set(err, RAMP_EINVAL, "", "variant %s of %s %s points at nothing: it has"
				  " no url and %.80s is not in the artifact store; upload it with"
				  " PUT /v1/artifacts/%.80s or give the variant a url",
				  json_string_value(json_object_get(v, "platform")), model, version,
				  d, d);
		snprintf(err->field, sizeof(err->field), "variants[%zu].digest", i);
		break;
	}
	json_decref(rec);
	return rc;
}
