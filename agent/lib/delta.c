/*
 * delta.c - installing from a delta instead of the full file (docs/deltas.md).
 * Used only when the controller offers one from exactly the digest this
 * device runs. The delta goes to <part>.delta (resumed with Range like any
 * download), its own digest is checked, then it is applied to the running
 * version's file into <part>.apply, which is fsync'd and renamed to <part>
 * only when the result has the signed digest and size: a half-applied file
 * never sits where a whole one is expected. Any failure but a broken-off
 * transfer says why and leaves the full download to the caller.
 */
#include "agent_int.h"

#include "common/log.h"
#include "common/zpatch.h"
#include "fetch.h"
#include "verify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static enum delta_outcome fall_back(struct slot *s, const char *dpart, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum delta_outcome fall_back(struct slot *s, const char *dpart, const char *fmt, ...)
{
	va_list ap;

	if (dpart)
		unlink(dpart);
	va_start(ap, fmt);
	vsnprintf(s->delta.fallback, sizeof(s->delta.fallback), fmt, ap);
	va_end(ap);
	return DELTA_FALLBACK;
}

/* Downloads the delta into dpart; DELTA_DONE when whole and its digest matches. */
static enum delta_outcome fetch_delta(struct agent *a, struct slot *s, const struct desired_model *e,
				      const char *dpart, char *why, size_t cap)
{
	const struct delta_offer *d = &e->delta;
	char ubuf[2048], sz[64];
	const char *url = install__fetch_url(a, d->url, ubuf, sizeof(ubuf));
	int same = ctl_same_origin(&a->ctl, url);
	struct fetch_req req = {url, same && a->ctl.token[0] ? a->conf.token : NULL, &a->ctl, same,
				d->size, &a->stop};
	struct fetch_result res = {0};
	struct ramp_err err = {0};
	int rc = fetch_resume(&req, dpart, &res, &err);

	atomic_fetch_add(&a->counters.downloads, 1);
	atomic_fetch_add(&a->counters.download_bytes, (unsigned long)(res.bytes - res.resumed_from));
	if (res.resumed_from > 0)
		atomic_fetch_add(&a->counters.resumes, 1);
	if (rc == RAMP_EIO && res.http_status < 400 && strcmp(err.field, "space") != 0) {
		snprintf(why, cap, "delta download %.300s: %.280s", url, err.msg);
		return DELTA_LATER;
	}
	if (rc != 0)
		return fall_back(s, dpart, "delta download failed: %.300s", err.msg);
	if (!res.hashed || res.bytes != d->size || strcmp(res.sha256, d->digest + 7) != 0) {
		snprintf(sz, sizeof(sz), "%lld bytes", (long long)res.bytes);
		return fall_back(s, dpart, "corrupt delta: its digest is sha256:%s (%s), not the offered one",
				 res.sha256, sz);
	}
	return DELTA_DONE;
}

/* Applies dpart to base into tmp and renames it to part when it is the signed file. */
static enum delta_outcome apply_delta(struct agent *a, struct slot *s, const struct verify_signed *sv,
				      const char *base, const char *dpart, const char *part,
				      struct fetch_result *got)
{
	char tmp[PATH_MAX + 8];
	struct zpatch_apply_result ar;
	struct ramp_err err = {0};
	int64_t max = sv->size >= 0 ? sv->size : a->conf.max_bytes;
	int in, out, rc;

	snprintf(tmp, sizeof(tmp), "%s.apply", part);
	if ((in = open(dpart, O_RDONLY | O_CLOEXEC)) < 0)
		return fall_back(s, dpart, "cannot read the delta: %s", strerror(errno));
	if ((out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
		close(in);
		return fall_back(s, dpart, "cannot write %.200s: %s", tmp, strerror(errno));
	}
	rc = zpatch_apply(base, in, out, (int)a->conf.delta_window_log, max, &ar, &err);
	close(in);
	if (rc == 0 && ((sv->size >= 0 && ar.out_size != sv->size) ||
			strcmp(ar.sha256, sv->digest + 7) != 0))
		rc = ramp_err_set(&err, RAMP_EINVAL, "digest",
				  "the applied file's digest is sha256:%s, not the signed %s", ar.sha256,
				  sv->digest);
	if (rc == 0 && fsync(out) != 0)
		rc = ramp_err_set(&err, RAMP_EIO, "", "fsync: %s", strerror(errno));
	close(out);
	if (rc == 0 && rename(tmp, part) != 0)
		rc = ramp_err_set(&err, RAMP_EIO, "", "rename: %s", strerror(errno));
	if (rc != 0) {
		unlink(tmp);
		return fall_back(s, dpart, "the delta does not apply to the running file (wrong base or"
				 " corrupt delta): %.300s", err.msg);
	}
	unlink(dpart);
	memset(got, 0, sizeof(*got));
	got->bytes = ar.out_size;
	got->hashed = 1;
	got->http_status = 200;
	memcpy(got->sha256, ar.sha256, sizeof(got->sha256));
	return DELTA_DONE;
}

enum delta_outcome delta_fetch_apply(struct agent *a, struct slot *s, const struct desired_model *e,
				     const struct verify_signed *sv, const char *part,
				     struct fetch_result *got, char *why, size_t cap)
{
	const struct delta_offer *d = &e->delta;
	char dpart[PATH_MAX + 8], base[PATH_MAX];
	enum delta_outcome o;

	memset(&s->delta, 0, sizeof(s->delta));
	if (!e->has_delta || a->conf.no_delta)
		return DELTA_NONE;
	snprintf(s->delta.from_version, sizeof(s->delta.from_version), "%s", s->running.version);
	snprintf(dpart, sizeof(dpart), "%s.delta", part);
	if (strcmp(s->running.digest, d->from) != 0)
		return fall_back(s, dpart, "wrong base: the delta is from %s, this device runs %s", d->from,
				 s->running.digest[0] ? s->running.digest : "nothing");
	if (!mstore_has(a->conf.model_dir, e->model, s->running.version, s->running.digest))
		return fall_back(s, dpart, "wrong base: version %.129s is not complete in the store",
				 s->running.version);
	mstore_file(a->conf.model_dir, e->model, s->running.version, base, sizeof(base));
	log_info("msg=\"downloading delta\" model=%s version=%s from=%s bytes=%lld", e->model,
		 e->version, s->running.version, (long long)d->size);
	if ((o = fetch_delta(a, s, e, dpart, why, cap)) != DELTA_DONE)
		return o;
	if ((o = apply_delta(a, s, sv, base, dpart, part, got)) != DELTA_DONE)
		return o;
	s->delta.used = 1;
	s->delta.bytes = d->size;
	s->delta.saved = got->bytes - d->size;
	return DELTA_DONE;
}
