/*
 * install.c - one desired entry taken to the running version, each step
 * reported to the controller.  Per model a slot keeps the running version,
 * the kept previous one, versions refused for good, and a transient retry
 * with backoff.  For a desired entry (install_reconcile) the order is:
 *
 *   running already ─────────────────────────────> nothing
 *   refused before ──────────────────────────────> nothing (until SIGHUP)
 *   retry not due yet ───────────────────────────> nothing
 *   kept previous, still stored ──> current -> it, swap_back or install hook
 *                 ──> installed "kept previous version back from the cache,
 *                     no download" (+ rolled_back for the version left)
 *   otherwise: manifest signature ─> space check ─> downloading ─> verifying
 *              (digest, size) ─> <version>/ ─> current -> it ─> install hook
 *              ─> installed | failed "<reason>; previous version <v> restored"
 *
 * A broken-off download or an unreachable controller is transient: the
 * partial file stays and the next attempt resumes it after a backoff with
 * jitter.  A swap is bracketed by the store's .pending mark, so a crash
 * between pointing current and the install hook's answer is undone at the
 * next start (install_recover): after a reboot current is what was last
 * installed completely.  Runs on the loop's thread, as do the install,
 * swap_back, restore and resume hooks; a slot's running version and the
 * slot count change under a->lock, since agent_label reads them.
 */
#include "agent_int.h"

#include "common/log.h"
#include "fetch.h"
#include "tufc.h"
#include "verify.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int mark_is(const struct mark *m, const struct desired_model *e)
{
	return strcmp(m->version, e->version) == 0 && strcmp(m->digest, e->digest) == 0;
}

static void mark_set(struct mark *m, const struct desired_model *e)
{
	snprintf(m->version, sizeof(m->version), "%s", e->version);
	snprintf(m->digest, sizeof(m->digest), "%s", e->digest);
}

static const char *root(const struct agent *a)
{
	return a->conf.model_dir;
}

static struct slot *slot_find(struct agent *a, const char *model)
{
	for (size_t i = 0; i < a->nslots; i++)
		if (strcmp(a->slots[i].model, model) == 0)
			return &a->slots[i];
	return NULL;
}

static struct slot *slot_for(struct agent *a, const char *model)
{
	struct slot *s = slot_find(a, model);

	if (s != NULL || a->nslots == AGENT_MAX_MODELS)
		return s;
	s = &a->slots[a->nslots];
	memset(s, 0, sizeof(*s));
	snprintf(s->model, sizeof(s->model), "%s", model);
	pthread_mutex_lock(&a->lock);
	a->nslots++;
	pthread_mutex_unlock(&a->lock);
	return s;
}

static void set_running(struct agent *a, struct slot *s, const struct mark *m)
{
	pthread_mutex_lock(&a->lock);
	s->running = *m;
	pthread_mutex_unlock(&a->lock);
}

/* Posts a status; one the controller does not take is kept and sent after the next good poll. */
static void report_vd(struct agent *a, struct slot *s, const char *model, const char *version,
		      const char *state, const char *detail, json_t *delta)
{
	int st = ctl_status_delta(&a->ctl, model, version, state, detail, delta);

	log_info("msg=\"%s\" model=%s version=%s detail=\"%s\" status_post=%d", state, model,
		 version, detail ? detail : "", st);
	if (s == NULL)
		return;
	if (st < 0 || st >= 500 || st == 429) {
		snprintf(s->unsent.version, sizeof(s->unsent.version), "%s", version);
		snprintf(s->unsent.state, sizeof(s->unsent.state), "%s", state);
		snprintf(s->unsent.detail, sizeof(s->unsent.detail), "%s", detail ? detail : "");
	} else {
		s->unsent.state[0] = 0;
	}
}

static void report_v(struct agent *a, struct slot *s, const char *model, const char *version,
		     const char *state, const char *detail)
{
	report_vd(a, s, model, version, state, detail, NULL);
}

static void report(struct agent *a, struct slot *s, const struct desired_model *e,
		   const char *state, const char *detail)
{
	report_v(a, s, e->model, e->version, state, detail);
}

/* The "delta" of a status report: what the slot's delta note says, or NULL (the caller's). */
static json_t *delta_json(const struct slot *s)
{
	const struct delta_note *d = &s->delta;

	if (d->used)
		return json_pack("{s:s, s:I, s:I}", "from", d->from_version, "bytes",
				 (json_int_t)d->bytes, "saved", (json_int_t)d->saved);
	if (d->fallback[0])
		return d->from_version[0]
			       ? json_pack("{s:s, s:s}", "from", d->from_version, "fallback", d->fallback)
			       : json_pack("{s:s}", "fallback", d->fallback);
	return NULL;
}

static void report_delta(struct agent *a, struct slot *s, const struct desired_model *e,
			 const char *state, const char *detail)
{
	json_t *d = delta_json(s);

	report_vd(a, s, e->model, e->version, state, detail, d);
	json_decref(d);
}

/* Sends the statuses kept while the controller could not be reached. */
void install_report_unsent(struct agent *a)
{
	for (size_t i = 0; i < a->nslots; i++) {
		struct slot *s = &a->slots[i];
		struct unsent u = s->unsent;
		if (u.state[0])
			report_v(a, s, s->model, u.version, u.state, u.detail[0] ? u.detail : NULL);
	}
}

/* A permanent refusal: reported once, never retried until a reload. */
static void refuse(struct agent *a, struct slot *s, const struct desired_model *e,
		   const char *why)
{
	mark_set(&s->refused[s->nrefused++ % AGENT_MAX_REFUSED], e);
	if (mark_is(&s->retry, e))
		memset(&s->retry, 0, sizeof(s->retry));
	atomic_fetch_add(&a->counters.failures, 1);
	report(a, s, e, "failed", why);
}

static int refused(const struct slot *s, const struct desired_model *e)
{
	size_t n = s->nrefused < AGENT_MAX_REFUSED ? s->nrefused : AGENT_MAX_REFUSED;
	for (size_t i = 0; i < n; i++)
		if (mark_is(&s->refused[i], e))
			return 1;
	return 0;
}

/*
 * A transient failure: retried with backoff (1 s doubling to poll-max, with
 * jitter); reported on the first of a run when report_it.
 */
static void postpone(struct agent *a, struct slot *s, const struct desired_model *e,
		     const char *why, int report_it)
{
	int first = !mark_is(&s->retry, e);
	s->backoff = first ? 1 : fmin(s->backoff * 2, fmax(a->conf.poll_max_s, 1));
	mark_set(&s->retry, e);
	s->retry_at = agent__now_mono() + agent__jitter(a, s->backoff);
	log_warn("msg=\"will retry\" model=%s version=%s in_s=%.1f reason=\"%s\"", e->model,
		 e->version, s->retry_at - agent__now_mono(), why);
	if (first && report_it) {
		atomic_fetch_add(&a->counters.failures, 1);
		report(a, s, e, "failed", why);
	}
}

/* Checks the manifest with each trusted key: 0 when one verifies it. */
int verify_any(const struct agent *a, const struct desired_model *e, struct verify_signed *sv,
	       struct ramp_err *err)
{
	struct ramp_err first = {0};

	for (size_t i = 0; i < a->conf.npubkeys; i++) {
		struct ramp_err kerr = {0};
		if (verify_manifest(e, a->conf.pubkey_pem[i], a->conf.pubkey_len[i], agent__now_wall(), sv,
				    &kerr) == 0)
			return 0;
		if (strcmp(kerr.field, "signature") != 0) { /* verified, but says something else */
			*err = kerr;
			return err->code;
		}
		if (i == 0)
			first = kerr;
	}
	*err = first;
	if (a->conf.npubkeys > 1)
		snprintf(err->msg, sizeof(err->msg),
			 "manifest signature does not verify with any of the %zu configured keys "
			 "(key_id %s)", a->conf.npubkeys, e->key_id[0] ? e->key_id : "none");
	return err->code ? err->code : RAMP_EINVAL;
}

/*
 * Whether the download fits: what is still to come, plus min-free-mb, must
 * be free.  0, or the "no space: ..." reason in why.
 */
static int space_check(const struct agent *a, const struct desired_model *e, int64_t size,
		       const char *part, char *why, size_t cap)
{
	double need, free_mb;
	char dir[PATH_MAX];

	if (size < 0)
		size = e->size;
	if (size < 0)
		return 0;
	snprintf(dir, sizeof(dir), "%s/%s", root(a), e->model);
	need = (double)(size - mstore_size(part)) / (1024.0 * 1024.0);
	free_mb = mstore_free_mb(dir);
	if (free_mb < 0 || free_mb - fmax(need, 0) >= a->conf.min_free_mb)
		return 0;
	snprintf(why, cap, "no space: need %.1f MiB and %.0f MiB kept free, %.1f MiB free in %.400s",
		 fmax(need, 0), a->conf.min_free_mb, free_mb, dir);
	return -1;
}

/*
 * Where to fetch url from: rampd's own artifact store (a path under
 * /v1/artifacts/, or a relative URL) is fetched from the controller this
 * agent was configured with, whatever host name rampd put in the answer
 * (RAMP_PUBLIC_URL may name a front the device does not reach); the
 * content is checked against the signed digest either way.  Other URLs as
 * they are.
 */
const char *install__fetch_url(const struct agent *a, const char *url, char *buf, size_t cap)
{
	const char *path = url;

	if (url[0] != '/') {
		const char *p = strstr(url, "://");
		path = p ? strchr(p + 3, '/') : NULL;
		if (path == NULL || strncmp(path, "/v1/artifacts/", 14) != 0)
			return url;
	}
	if ((size_t)snprintf(buf, cap, "%s%s", a->ctl.base, path) >= cap)
		return url;
	return buf;
}
/* Downloads e into its partial file; 0 when the whole file is there. */
static int download(struct agent *a, struct slot *s, const struct desired_model *e,
		    int64_t signed_size, const char *part, struct fetch_result *res_out)
{
	char ubuf[2048];
	const char *url = install__fetch_url(a, e->url, ubuf, sizeof(ubuf));
	int same = ctl_same_origin(&a->ctl, url);
	/* the device credentials go only to the controller; the CA bundle applies everywhere */
	struct fetch_req req = {url, same && a->ctl.token[0] ? a->conf.token : NULL,
				&a->ctl, same, signed_size >= 0 ? signed_size : a->conf.max_bytes,
				&a->stop};
	struct fetch_result res;
	struct ramp_err err = {0};
	char why[600];
	int rc;

	if (s->delta.fallback[0]) /* why the whole file after all */
		snprintf(why, sizeof(why), "delta not used: %.400s; downloading the full file",
			 s->delta.fallback);
	report_delta(a, s, e, "downloading", s->delta.fallback[0] ? why : NULL);
	rc = fetch_resume(&req, part, &res, &err);
	atomic_fetch_add(&a->counters.downloads, 1);
	atomic_fetch_add(&a->counters.download_bytes, (unsigned long)(res.bytes - res.resumed_from));
	if (res.resumed_from > 0)
		atomic_fetch_add(&a->counters.resumes, 1);
	*res_out = res;
	if (rc == 0)
		return 0;
	if (strcmp(err.field, "space") == 0) { /* give the disk back to the device */
		snprintf(why, sizeof(why), "%s", err.msg);
		unlink(part);
	}
	else
		snprintf(why, sizeof(why), "download %.300s: %.280s", url, err.msg);
	if (rc == RAMP_ETOOBIG && tufc_enabled(&a->conf)) {
		char named[700];

		snprintf(named, sizeof(named), "tuf: endless-data: %.600s", why);
		refuse(a, s, e, named);
	} else if (rc == RAMP_ETOOBIG)
		refuse(a, s, e, why);
	else
		postpone(a, s, e, why, res.http_status >= 400 || strcmp(err.field, "space") == 0);
	return rc;
}

/* What manifest.json records of a verified version. */
static json_t *meta_for(const struct desired_model *e, int64_t size)
{
	return json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:f}", "model", e->model,
			 "version", e->version, "digest", e->digest, "size", (json_int_t)size,
			 "key_id", e->key_id, "manifest", e->manifest_b64 ? e->manifest_b64 : "",
			 "signature", e->signature ? e->signature : "", "url", e->url ? e->url : "",
			 "installed_at", agent__now_wall());
}

enum how { FRESH, CACHED, BACK };

/*
 * Points current at e's version (present in the store) and runs the hooks.
 * 0, or -1 with the reason in why after current was pointed back (and the
 * restore hook run) so the old version runs.
 */
static int activate(struct agent *a, struct slot *s, const struct desired_model *e,
		    enum how how, double *load_ms, char *why, size_t cap)
{
	struct mark old = s->running, now;
	struct ramp_err err = {0};
	char path[PATH_MAX];
	int rc = -1;

	snprintf(path, sizeof(path), "%s/%s/current/model", root(a), e->model);
	if (mstore_pending(root(a), e->model, old.version, &err) != 0 ||
	    mstore_point(root(a), e->model, "current", e->version, &err) != 0) {
		snprintf(why, cap, "%s", err.msg);
		mstore_pending(root(a), e->model, NULL, &err);
		return -1;
	}
	if (how == BACK && a->hooks.swap_back && a->hooks.swap_back(a->hooks.cls, e, &err) == 0)
		rc = 0;
	else if (a->hooks.install(a->hooks.cls, e, path, load_ms, &err) == 0)
		rc = 0;
	if (rc != 0) {
		struct ramp_err perr = {0};
		int back = mstore_point(root(a), e->model, "current", old.version, &perr);
		if (back == 0 && old.version[0] && a->hooks.restore)
			a->hooks.restore(a->hooks.cls, e->model, old.version, path);
		mstore_pending(root(a), e->model, NULL, &perr);
		if (!old.version[0])
			snprintf(why, cap, "%s", err.msg);
		else if (back == 0)
			snprintf(why, cap, "%.450s; previous version %s restored", err.msg, old.version);
		else
			snprintf(why, cap, "%.300s; previous version %s NOT restored: %.200s", err.msg,
				 old.version, perr.msg);
		return -1;
	}
	if (old.version[0] && strcmp(old.version, e->version) != 0) {
		mstore_point(root(a), e->model, "previous", old.version, &err);
		s->prev = old;
	} else if (!old.version[0] && !s->prev.version[0]) {
		mstore_point(root(a), e->model, "previous", "", &err);
	}
	mstore_pending(root(a), e->model, NULL, &err);
	mark_set(&now, e);
	set_running(a, s, &now);
	mstore_prune(root(a), e->model, e->version, s->prev.version, NULL);
	return 0;
}

/* Downloads e's file into its partial file (part); 0, or -1 after e was postponed or refused. */
static int fetch_part(struct agent *a, struct slot *s, const struct desired_model *e,
		      const struct verify_signed *sv, char *part, size_t cap, struct fetch_result *got)
{
	struct ramp_err err = {0};
	char why[800];

	if (mstore_partial(root(a), e->model, sv->digest, part, cap, &err) != 0) {
		postpone(a, s, e, err.msg, 1);
		return -1;
	}
	if (space_check(a, e, sv->size, part, why, sizeof(why)) != 0) {
		postpone(a, s, e, why, 1);
		return -1;
	}
	switch (delta_fetch_apply(a, s, e, sv, part, got, why, sizeof(why))) {
	case DELTA_DONE:
		return 0;
	case DELTA_LATER: /* the partial delta is kept and resumed */
		postpone(a, s, e, why, 0);
		return -1;
	case DELTA_FALLBACK:
		atomic_fetch_add(&a->counters.delta_fallbacks, 1);
		log_warn("msg=\"delta not used\" model=%s version=%s reason=\"%s\"", e->model,
			 e->version, s->delta.fallback);
		break;
	case DELTA_NONE:
		break;
	}
	return download(a, s, e, sv->size, part, got) != 0 ? -1 : 0;
}

/*
 * Checks the file at path against the signed digest and size: got is the
 * download that wrote it, NULL for a file already in the store.  0, or -1
 * after a downloaded file went and e was postponed or refused.
 */
static int check_file(struct agent *a, struct slot *s, const struct desired_model *e,
		      const struct verify_signed *sv, const char *path,
		      const struct fetch_result *got)
{
	struct ramp_err err = {0};
	int rc;

	report(a, s, e, "verifying", got ? NULL : "file already in the store");
	if (got && got->hashed) /* hashed as it was written */
		rc = verify_digest(got->sha256, got->bytes, sv->digest, sv->size, &err);
	else
		rc = verify_file(path, sv->digest, sv->size, &err);
	if (rc == 0)
		return 0;
	if (got)
		unlink(path);
	if (err.code == RAMP_EIO) {
		postpone(a, s, e, err.msg, 1);
	} else if (tufc_enabled(&a->conf)) {
		char named[400];

		snprintf(named, sizeof(named), "tuf: arbitrary-software: %.300s", err.msg);
		refuse(a, s, e, named);
	} else {
		refuse(a, s, e, err.msg);
	}
	mstore_prune(root(a), e->model, s->running.version, s->prev.version, NULL);
	return -1;
}

/* Moves the checked part into <version>/ with its manifest.json; 0, or -1 after e was postponed. */
static int commit_part(struct agent *a, struct slot *s, const struct desired_model *e,
		       const struct verify_signed *sv, const char *part)
{
	struct ramp_err err = {0};
	char why[800];
	json_t *meta = meta_for(e, sv->size >= 0 ? sv->size : mstore_size(part));

	if (meta == NULL || mstore_commit(root(a), e->model, e->version, part, meta, &err)) {
		snprintf(why, sizeof(why), "%s", meta ? err.msg : "out of memory");
		json_decref(meta);
		postpone(a, s, e, why, 1);
		return -1;
	}
	json_decref(meta);
	return 0;
}

/*
 * TUF (tufc.h) on top of the manifest signature: the target must be in
 * verified targets metadata with the signed digest; its length caps the
 * download. 0, or -1 after e was refused (the attack named) or postponed.
 */
static int tuf_check(struct agent *a, struct slot *s, const struct desired_model *e,
		     struct verify_signed *sv)
{
	struct verify_signed t;
	struct ramp_err err = {0};
	int rc = tufc_verify(&a->conf, &a->ctl, e, agent__now_wall(), &t, &err);

	if (rc == RAMP_EIO) {
		postpone(a, s, e, err.msg, 1);
		return -1;
	}
	if (rc == 0 && strcmp(t.digest, sv->digest) != 0)
		rc = ramp_err_set(&err, RAMP_EINVAL, "arbitrary-software",
				  "tuf: arbitrary-software: the manifest's digest is not the target's");
	if (rc) {
		log_warn("msg=\"tuf refused\" model=%s version=%s reason=\"%s\"", e->model,
			 e->version, err.msg);
		refuse(a, s, e, err.msg);
		return -1;
	}
	*sv = t;
	return 0;
}

/* The installed report's detail: how long, and how the file came (bytes saved by a delta). */
static void install_detail(struct agent *a, const struct slot *s, double load_ms, int cached,
			   char *why, size_t cap)
{
	const struct delta_note *d = &s->delta;

	if (cached)
		snprintf(why, cap, "installed in %.1f ms from the store, no download", load_ms);
	else if (d->used) {
		atomic_fetch_add(&a->counters.delta_installs, 1);
		atomic_fetch_add(&a->counters.delta_bytes_saved, (unsigned long)(d->saved > 0 ? d->saved : 0));
		snprintf(why, cap, "installed in %.1f ms from a delta from %s: %lld bytes downloaded,"
			 " %lld bytes saved", load_ms, d->from_version, (long long)d->bytes,
			 (long long)d->saved);
	} else if (d->fallback[0])
		snprintf(why, cap, "installed in %.1f ms from the full file; delta not used: %.400s",
			 load_ms, d->fallback);
	else
		snprintf(why, cap, "installed in %.1f ms", load_ms);
}

/* Verifies, downloads when needed, checks the file and installs e. */
static void install_new(struct agent *a, struct slot *s, const struct desired_model *e)
{
	struct verify_signed sv;
	struct fetch_result got = {0};
	struct ramp_err err = {0};
	char file[PATH_MAX], part[PATH_MAX], why[800];
	double load_ms = 0;
	int cached;

	memset(&s->delta, 0, sizeof(s->delta));
	if (verify_any(a, e, &sv, &err)) {
		refuse(a, s, e, err.msg);
		return;
	}
	if (tufc_enabled(&a->conf) && tuf_check(a, s, e, &sv) != 0)
		return;
	mstore_file(root(a), e->model, e->version, file, sizeof(file));
	cached = mstore_has(root(a), e->model, e->version, sv.digest);
	if (!cached && fetch_part(a, s, e, &sv, part, sizeof(part), &got) != 0)
		return;
	if (check_file(a, s, e, &sv, cached ? file : part, cached ? NULL : &got) != 0)
		return;
	if (!cached && commit_part(a, s, e, &sv, part) != 0)
		return;
	if (activate(a, s, e, cached ? CACHED : FRESH, &load_ms, why, sizeof(why)) != 0) {
		refuse(a, s, e, why);
		mstore_prune(root(a), e->model, s->running.version, s->prev.version, NULL);
		return;
	}
	memset(&s->retry, 0, sizeof(s->retry));
	atomic_fetch_add(&a->counters.installs, 1);
	install_detail(a, s, load_ms, cached, why, sizeof(why));
	report_delta(a, s, e, "installed", why);
	memset(&s->delta, 0, sizeof(s->delta));
}

/* The controller asks for the kept previous version: back to it without a download. */
static int swap_back(struct agent *a, struct slot *s, const struct desired_model *e)
{
	struct mark left = s->running;
	char why[800];
	double ms = 0;

	if (!mstore_has(root(a), e->model, e->version, e->digest))
		return -1;
	if (activate(a, s, e, BACK, &ms, why, sizeof(why)) != 0) {
		log_warn("msg=\"swap back failed\" model=%s version=%s reason=\"%s\"", e->model,
			 e->version, why);
		refuse(a, s, e, why);
		return 0;
	}
	atomic_fetch_add(&a->counters.swaps_back, 1);
	if (left.version[0]) {
		snprintf(why, sizeof(why), "controller asked for %s", e->version);
		report_v(a, s, e->model, left.version, "rolled_back", why);
	}
	snprintf(why, sizeof(why), "kept previous version back from the cache, no download (%.1f ms)",
		 ms);
	report(a, s, e, "installed", why);
	return 0;
}

/*
 * Device consent (docs/windows.md): while the update-lock file exists the
 * inference process is busy and the install waits, reported once per
 * version as "deferred" with the file's first line as the reason; after
 * max-defer it goes ahead anyway. 1 when the install waits.
 */
static int deferred(struct agent *a, struct slot *s, const struct desired_model *e)
{
	char why[256] = "", detail[1024];
	double now = agent__now_mono();
	FILE *f;

	const char *which = a->conf.update_lock;
	int sock;

	pthread_mutex_lock(&a->lock);
	if ((sock = a->sock_locked) != 0)
		snprintf(why, sizeof(why), "%s", a->sock_lock_reason);
	pthread_mutex_unlock(&a->lock);
	if (sock) {
		which = "on the telemetry socket";
	} else {
		if (!a->conf.update_lock[0] || (f = fopen(a->conf.update_lock, "r")) == NULL)
			return 0;
		if (fgets(why, sizeof(why), f) == NULL)
			why[0] = '\0';
		fclose(f);
		why[strcspn(why, "\r\n")] = '\0';
	}
	if (!mark_is(&s->deferred, e)) {
		mark_set(&s->deferred, e);
		s->deferred_at = now;
		snprintf(detail, sizeof(detail),
			 "update lock %s held%s%s; installing anyway after %.0f s (max-defer)",
			 which, why[0] ? ": " : "", why, a->conf.max_defer_s);
		report(a, s, e, "deferred", detail);
		return 1;
	}
	if (now - s->deferred_at < a->conf.max_defer_s)
		return 1;
	log_warn("msg=\"max-defer reached: installing while the update lock is held\" model=%s"
		 " version=%s deferred_s=%.0f", e->model, e->version, now - s->deferred_at);
	return 0;
}

/* The reconcile order of the head comment. */
void install_reconcile(struct agent *a, const struct desired_model *e)
{
	struct slot *s;

	if (!mstore_name_ok(e->model) || !mstore_name_ok(e->version))
		return; /* desired_parse lets no such name through; never a path part */
	if ((s = slot_for(a, e->model)) == NULL || mark_is(&s->running, e) || refused(s, e))
		return;
	if (mark_is(&s->retry, e) && agent__now_mono() < s->retry_at)
		return;
	if (deferred(a, s, e))
		return;
	if (s->prev.version[0] && mark_is(&s->prev, e) && swap_back(a, s, e) == 0)
		return;
	install_new(a, s, e);
}

/* ---- start: an unconfirmed swap undone, what runs read back from the store ---- */

void install_recover(void *cls, const char *model)
{
	struct agent *a = cls;
	struct ramp_err err = {0};
	char old[MSTORE_VERSION_MAX], path[PATH_MAX];
	struct slot *s;
	struct mark m = {0};

	if (a->conf.model[0] && strcmp(a->conf.model, model) != 0)
		return;
	snprintf(path, sizeof(path), "%s/%s/current/model", root(a), model);
	if (mstore_pending_get(root(a), model, old)) {
		log_warn("msg=\"undoing a swap that was not confirmed\" model=%s back_to=%s", model,
			 old[0] ? old : "nothing");
		if (mstore_point(root(a), model, "current", old, &err) == 0 && old[0] &&
		    a->hooks.restore)
			a->hooks.restore(a->hooks.cls, model, old, path);
		mstore_pending(root(a), model, NULL, &err);
	}
	if ((s = slot_for(a, model)) == NULL)
		return;
	if (mstore_link(root(a), model, "previous", s->prev.version, s->prev.digest,
			sizeof(s->prev.digest)) != 0)
		memset(&s->prev, 0, sizeof(s->prev));
	if (mstore_link(root(a), model, "current", m.version, m.digest, sizeof(m.digest)) != 0)
		return;
	if (a->hooks.resume &&
	    a->hooks.resume(a->hooks.cls, model, m.version, m.digest, path) != 0) {
		log_warn("msg=\"stored version not resumed\" model=%s version=%s", model, m.version);
		return;
	}
	set_running(a, s, &m);
	log_info("msg=\"running from the store\" model=%s version=%s previous=%s", model, m.version,
		 s->prev.version[0] ? s->prev.version : "none");
}
