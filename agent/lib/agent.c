/*
 * agent.c - the poll / download / verify / install loop and the telemetry
 * thread (agent.h).
 *
 * Per model the loop keeps a slot: the running version, the kept previous
 * one, versions refused for good, and a transient retry with backoff.  For
 * a desired entry the reconcile order is:
 *
 *   running already ─────────────────────────────> nothing
 *   refused before ──────────────────────────────> nothing (until SIGHUP)
 *   kept previous ──> current -> it, swap_back or install hook
 *                 ──> installed "from the cache, no download" (+ rolled_back
 *                     for the version left)
 *   otherwise: manifest signature ─> space check ─> downloading ─> verifying
 *              (digest, size) ─> <version>/ ─> current -> it ─> install hook
 *              ─> installed | failed "<reason>; previous version restored"
 *
 * A broken-off download or an unreachable controller is transient: the
 * partial file stays and the next attempt resumes it after a backoff with
 * jitter.  A swap is bracketed by the store's .pending mark, so a crash
 * between pointing current and the install hook's answer is undone at the
 * next start (recover): after a reboot current is what was last installed
 * completely.
 */
#include "agent.h"

#include "common/log.h"
#include "ctl.h"
#include "fetch.h"
#include "infer.h"
#include "spool.h"
#include "store.h"
#include "sysinfo.h"
#include "verify.h"

#include <errno.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define AGENT_MAX_MODELS 16
#define AGENT_MAX_REFUSED 8

struct mark {
	char version[MSTORE_VERSION_MAX];
	char digest[72];
};

/* A status report the controller did not take, sent again after the next good poll. */
struct unsent {
	char version[MSTORE_VERSION_MAX];
	char state[16];
	char detail[600];
};

struct slot {
	char model[64];
	struct mark running, prev;	/* running is written under the agent's lock */
	struct mark refused[AGENT_MAX_REFUSED];
	size_t nrefused;
	struct mark retry;	/* a transient failure of this version... */
	double retry_at, backoff; /* ...is retried at retry_at */
	struct unsent unsent;
};

struct agent {
	struct conf defaults, conf;
	struct conf_src src;
	struct agent_hooks hooks;
	char version[64];
	struct ctl ctl;
	char etag[128];
	struct desired desired;
	struct slot slots[AGENT_MAX_MODELS];
	size_t nslots;
	pthread_mutex_t lock;	/* conf (for the reporter), device_id, slots' running */
	char device_id[129];
	volatile sig_atomic_t stop, reload;
	struct agent_counters counters;
	char last_poll_err[256];
	int poll_fails;		/* polls in a row that did not reach the controller */
	unsigned rng;
};

static double now_wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* delay scaled into [delay/2, delay): backoff with jitter, so a fleet does not retry in step. */
static double jitter(struct agent *a, double delay)
{
	return delay * (0.5 + 0.5 * ((double)rand_r(&a->rng) / ((double)RAND_MAX + 1.0)));
}

/* Sleeps up to secs, waking early when stop or reload is asked for. */
static void nap(struct agent *a, double secs, int wake_on_reload)
{
	double until = now_mono() + secs;
	while (!a->stop && !(wake_on_reload && a->reload)) {
		double left = until - now_mono();
		struct timespec ts;
		if (left <= 0)
			break;
		if (left > 0.05)
			left = 0.05;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)(left * 1e9);
		nanosleep(&ts, NULL);
	}
}

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
static void report_v(struct agent *a, struct slot *s, const char *model, const char *version,
		     const char *state, const char *detail)
{
	int st = ctl_status(&a->ctl, model, version, state, detail);

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

static void report(struct agent *a, struct slot *s, const struct desired_model *e,
		   const char *state, const char *detail)
{
	report_v(a, s, e->model, e->version, state, detail);
}

/* Sends the statuses kept while the controller could not be reached. */
static void report_unsent(struct agent *a)
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
	s->retry_at = now_mono() + jitter(a, s->backoff);
	log_warn("msg=\"will retry\" model=%s version=%s in_s=%.1f reason=\"%s\"", e->model,
		 e->version, s->retry_at - now_mono(), why);
	if (first && report_it) {
		atomic_fetch_add(&a->counters.failures, 1);
		report(a, s, e, "failed", why);
	}
}

/* Checks the manifest with each trusted key: 0 when one verifies it. */
static int verify_any(const struct agent *a, const struct desired_model *e,
		      struct verify_signed *sv, struct ramp_err *err)
{
	struct ramp_err first = {0};

	for (size_t i = 0; i < a->conf.npubkeys; i++) {
		struct ramp_err kerr = {0};
		if (verify_manifest(e, a->conf.pubkey_pem[i], a->conf.pubkey_len[i], now_wall(), sv,
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

/* Downloads e into its partial file; 0 when the whole file is there. */
/*
 * Where to fetch url from: rampd's own artifact store (a path under
 * /v1/artifacts/, or a relative URL) is fetched from the controller this
 * agent was configured with, whatever host name rampd put in the answer
 * (RAMP_PUBLIC_URL may name a front the device does not reach); the
 * content is checked against the signed digest either way.  Other URLs as
 * they are.
 */
static const char *fetch_url(const struct agent *a, const char *url, char *buf, size_t cap)
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

static int download(struct agent *a, struct slot *s, const struct desired_model *e,
		    int64_t signed_size, const char *part, struct fetch_result *res_out)
{
	char ubuf[2048];
	const char *url = fetch_url(a, e->url, ubuf, sizeof(ubuf));
	int same = ctl_same_origin(&a->ctl, url);
	/* the device credentials go only to the controller; the CA bundle applies everywhere */
	struct fetch_req req = {url, same && a->ctl.token[0] ? a->conf.token : NULL,
				&a->ctl, same, signed_size >= 0 ? signed_size : a->conf.max_bytes,
				&a->stop};
	struct fetch_result res;
	struct ramp_err err = {0};
	char why[600];
	int rc;

	report(a, s, e, "downloading", NULL);
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
	if (rc == RAMP_ETOOBIG)
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
			 "installed_at", now_wall());
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

/* Verifies, downloads when needed, checks the file and installs e. */
static void install_new(struct agent *a, struct slot *s, const struct desired_model *e)
{
	struct verify_signed sv;
	struct fetch_result got = {0};
	struct ramp_err err = {0};
	char file[PATH_MAX], part[PATH_MAX], why[800];
	double load_ms = 0;
	int cached, rc;
	json_t *meta;

	if (verify_any(a, e, &sv, &err)) {
		refuse(a, s, e, err.msg);
		return;
	}
	mstore_file(root(a), e->model, e->version, file, sizeof(file));
	cached = mstore_has(root(a), e->model, e->version, sv.digest);
	if (!cached) {
		if (mstore_partial(root(a), e->model, sv.digest, part, sizeof(part), &err) != 0) {
			postpone(a, s, e, err.msg, 1);
			return;
		}
		if (space_check(a, e, sv.size, part, why, sizeof(why)) != 0) {
			postpone(a, s, e, why, 1);
			return;
		}
		if (download(a, s, e, sv.size, part, &got) != 0)
			return;
	}
	report(a, s, e, "verifying", cached ? "file already in the store" : NULL);
	if (!cached && got.hashed) /* hashed as it was written */
		rc = verify_digest(got.sha256, got.bytes, sv.digest, sv.size, &err);
	else
		rc = verify_file(cached ? file : part, sv.digest, sv.size, &err);
	if (rc != 0) {
		if (!cached)
			unlink(part);
		if (err.code == RAMP_EIO)
			postpone(a, s, e, err.msg, 1);
		else
			refuse(a, s, e, err.msg);
		mstore_prune(root(a), e->model, s->running.version, s->prev.version, NULL);
		return;
	}
	if (!cached) {
		meta = meta_for(e, sv.size >= 0 ? sv.size : mstore_size(part));
		if (meta == NULL || mstore_commit(root(a), e->model, e->version, part, meta, &err)) {
			snprintf(why, sizeof(why), "%s", meta ? err.msg : "out of memory");
			json_decref(meta);
			postpone(a, s, e, why, 1);
			return;
		}
		json_decref(meta);
	}
	if (activate(a, s, e, cached ? CACHED : FRESH, &load_ms, why, sizeof(why)) != 0) {
		refuse(a, s, e, why);
		mstore_prune(root(a), e->model, s->running.version, s->prev.version, NULL);
		return;
	}
	memset(&s->retry, 0, sizeof(s->retry));
	atomic_fetch_add(&a->counters.installs, 1);
	snprintf(why, sizeof(why), "installed in %.1f ms%s", load_ms,
		 cached ? " from the store, no download" : "");
	report(a, s, e, "installed", why);
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

static void reconcile(struct agent *a, const struct desired_model *e)
{
	struct slot *s;

	if (!mstore_name_ok(e->model) || !mstore_name_ok(e->version))
		return; /* desired_parse lets no such name through; never a path part */
	if ((s = slot_for(a, e->model)) == NULL || mark_is(&s->running, e) || refused(s, e))
		return;
	if (mark_is(&s->retry, e) && now_mono() < s->retry_at)
		return;
	if (s->prev.version[0] && mark_is(&s->prev, e) && swap_back(a, s, e) == 0)
		return;
	install_new(a, s, e);
}

/* Acts on the entries of the last desired answer this agent handles. */
static void reconcile_all(struct agent *a)
{
	const struct desired_model *one;

	if (a->hooks.single) {
		one = desired_find(&a->desired, a->conf.model, a->conf.platform);
		if (one)
			reconcile(a, one);
		return;
	}
	for (size_t i = 0; i < a->desired.n && !a->stop; i++) {
		const struct desired_model *e = &a->desired.models[i];
		if ((!a->conf.model[0] || !strcmp(a->conf.model, e->model)) &&
		    (!a->conf.platform[0] || !strcmp(a->conf.platform, e->platform)))
			reconcile(a, e);
	}
}

/* Keeps the device id on disk, so telemetry gathered offline after a restart has it. */
static void remember_device(struct agent *a, const char *id)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	FILE *f;

	if (!strcmp(a->device_id, id))
		return;
	pthread_mutex_lock(&a->lock);
	snprintf(a->device_id, sizeof(a->device_id), "%s", id);
	pthread_mutex_unlock(&a->lock);
	snprintf(path, sizeof(path), "%s/device.id", a->conf.state_dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL)
		return;
	fprintf(f, "%s\n", id);
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		unlink(tmp);
}

static void recall_device(struct agent *a)
{
	char path[PATH_MAX], id[129] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/device.id", a->conf.state_dir);
	if ((f = fopen(path, "r")) == NULL)
		return;
	if (fgets(id, sizeof(id), f))
		id[strcspn(id, "\r\n")] = 0;
	fclose(f);
	pthread_mutex_lock(&a->lock);
	snprintf(a->device_id, sizeof(a->device_id), "%s", id);
	pthread_mutex_unlock(&a->lock);
}

/* One poll; 1 when the controller answered (any status), 0 when it could not be reached. */
static int poll_once(struct agent *a)
{
	struct ramp_err err = {0};
	struct desired d;
	char *body = NULL;
	size_t len = 0;
	int st = ctl_desired(&a->ctl, a->etag, &body, &len, &err);
	int reached = st > 0 && st < 500;

	atomic_fetch_add(&a->counters.polls, 1);
	if (!reached)
		atomic_fetch_add(&a->counters.poll_failures, 1);
	if (st == 200 && desired_parse(body, len, &d, &err) == 0) {
		desired_free(&a->desired);
		a->desired = d;
		remember_device(a, d.device_id);
		a->last_poll_err[0] = 0;
	} else if (st != 304 && strcmp(a->last_poll_err, err.msg) != 0) {
		log_warn("msg=\"poll failed\" reason=\"%s%s%s\"", err.field, err.field[0] ? ": " : "",
			 err.msg);
		snprintf(a->last_poll_err, sizeof(a->last_poll_err), "%s", err.msg);
		if (st == 200)
			a->etag[0] = 0; /* an answer we could not read: ask for it whole again */
	}
	free(body);
	if (reached)
		report_unsent(a);
	reconcile_all(a);
	return reached;
}

/*
 * Seconds until the next poll: the configured interval, or the controller's
 * (30 s when it names none) clamped to [poll-min, poll-max]; while the
 * controller cannot be reached, poll-min doubling per failure up to poll-max,
 * with jitter.  A retry due sooner wins.
 */
static double poll_interval(struct agent *a)
{
	const struct conf *c = &a->conf;
	double iv, now = now_mono();

	if (a->poll_fails > 0) {
		double base = c->poll_s > 0 ? fmin(c->poll_s, c->poll_min_s) : c->poll_min_s;
		iv = jitter(a, fmin(base * pow(2, fmin(a->poll_fails - 1, 30)), c->poll_max_s));
	} else if (c->poll_s > 0) {
		iv = c->poll_s;
	} else {
		iv = a->desired.poll_after_s > 0 ? a->desired.poll_after_s : 30;
		iv = fmin(fmax(iv, c->poll_min_s), c->poll_max_s);
	}
	for (size_t i = 0; i < a->nslots; i++)
		if (a->slots[i].retry.version[0] && a->slots[i].retry_at > now)
			iv = fmin(iv, fmax(a->slots[i].retry_at - now, 0.05));
	return iv;
}

/* ---- start: an unconfirmed swap undone, what runs read back from the store ---- */

static void recover_model(void *cls, const char *model)
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

/* ---- enrollment ---- */

/* "k=v,k=v" into a JSON object; NULL when a pair has no '='. */
static json_t *labels_json(const char *text)
{
	char buf[1024], *save = NULL, *p;
	json_t *o = json_object();

	snprintf(buf, sizeof(buf), "%s", text);
	for (p = strtok_r(buf, ",", &save); p && o; p = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(p, '=');
		if (eq == NULL || eq == p) {
			json_decref(o);
			return NULL;
		}
		*eq = 0;
		json_object_set_new(o, p, json_string(eq + 1));
	}
	return o;
}

/* Writes the device token with mode 0600 (a temporary file renamed over it). */
static int write_token(const char *path, const char *token, struct ramp_err *err)
{
	char tmp[PATH_MAX + 8];
	int fd;
	size_t n = strlen(token);

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		return ramp_err_set(err, RAMP_EIO, "token-file", "cannot write %s: %s", tmp,
				    strerror(errno));
	if (write(fd, token, n) != (ssize_t)n || write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
		close(fd);
		unlink(tmp);
		return ramp_err_set(err, RAMP_EIO, "token-file", "cannot write %s", tmp);
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		unlink(tmp);
		return ramp_err_set(err, RAMP_EIO, "token-file", "cannot write %s: %s", path,
				    strerror(errno));
	}
	return 0;
}

/* The common name of the certificate at path into id (the id rampd reads from it); 0 or -1. */
static int cert_cn(const char *path, char *id, size_t cap)
{
	FILE *f = fopen(path, "r");
	X509 *x;
	int n = -1;

	if (f == NULL)
		return -1;
	if ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
		n = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, id, (int)cap);
		X509_free(x);
	}
	fclose(f);
	return n > 0 ? 0 : -1;
}

/*
 * POST /v1/enroll with the enroll token, or with the client certificate
 * alone (rampd lets a certificate enroll the id it names): 0 with the device
 * token in a->conf.token (and on disk), or, for a certificate alone, 0 when
 * the device is registered already (it goes on with the certificate); 1 to
 * try again later; -1 on a refusal that waiting will not change (logged).
 */
static int enroll_once(struct agent *a)
{
	struct ramp_err err = {0};
	struct ctl c;
	char id[129], token[256];
	json_t *body, *labels = labels_json(a->conf.labels), *ans = NULL;
	int st;

	if (labels == NULL) {
		log_error("msg=\"enrollment impossible\" reason=\"labels must be k=v,k=v\"");
		return -1;
	}
	int cert_only = !a->conf.enroll_token[0];

	if (a->conf.device_id[0])
		snprintf(id, sizeof(id), "%s", a->conf.device_id);
	else if (a->conf.tls_cert[0] && cert_cn(a->conf.tls_cert, id, sizeof(id)) == 0)
		;
	else if (gethostname(id, sizeof(id)) != 0)
		snprintf(id, sizeof(id), "device");
	id[sizeof(id) - 1] = 0;
	body = json_pack("{s:s, s:s, s:o}", "id", id, "platform", a->conf.platform, "labels", labels);
	if (body == NULL || ctl_init(&c, a->conf.controller, a->conf.enroll_token, a->version,
				     &err) != 0) {
		json_decref(body);
		return 1;
	}
	ctl_set_tls(&c, a->conf.tls_cert, a->conf.tls_key, a->conf.tls_ca);
	c.cancel = &a->stop;
	st = ctl_post_answer(&c, "/v1/enroll", body, &ans, &err);
	ctl_free(&c);
	json_decref(body);
	if (st == 201 && json_string_value(json_object_get(ans, "token"))) {
		snprintf(token, sizeof(token), "%s", json_string_value(json_object_get(ans, "token")));
		json_decref(ans);
		if (write_token(a->conf.token_file, token, &err) != 0) {
			log_error("msg=\"enrolled, but the token was not saved\" reason=\"%s\"", err.msg);
			return -1;
		}
		snprintf(a->conf.token, sizeof(a->conf.token), "%s", token);
		snprintf(a->ctl.token, sizeof(a->ctl.token), "%s", token);
		log_info("msg=\"enrolled\" device=%s token_file=%s", id, a->conf.token_file);
		return 0;
	}
	json_decref(ans);
	if (cert_only && st > 0 && st < 500 && st != 429) {
		/* 409: registered already; otherwise rampd may still take the certificate on its routes */
		if (st == 409)
			log_info("msg=\"registered already: going on with the certificate alone\" device=%s",
				 id);
		else
			log_error("msg=\"enrollment by certificate refused: going on with the certificate "
				  "alone\" device=%s status=%d reason=\"%s\"", id, st, err.msg);
		return 0;
	}
	log_error("msg=\"enrollment failed\" device=%s status=%d reason=\"%s\"", id, st, err.msg);
	return st > 0 && st < 500 && st != 429 ? -1 : 1;
}

/*
 * Enrolls when there is no device token yet, with the enroll token or the
 * client certificate; keeps trying (with backoff) until it is done or stopped.
 */
static void enroll(struct agent *a)
{
	double delay = a->conf.poll_min_s;
	int rc;

	if (a->conf.token[0] || (!a->conf.enroll_token[0] && !a->conf.tls_cert[0]))
		return;
	while (!a->stop && (rc = enroll_once(a)) != 0) {
		if (rc < 0)
			delay = a->conf.poll_max_s; /* an operator has to act: ask rarely */
		nap(a, jitter(a, delay), 1);
		delay = fmin(delay * 2, a->conf.poll_max_s);
		if (a->reload)
			return;
	}
}

/* ---- telemetry ---- */

/* The machine's gauges and the device id and time, added to each report. */
static void stamp(json_t *reports, const char *device_id, const char *dir,
		  struct sysinfo_cpu *cpu)
{
	double now = now_wall(), cpu_pct = sysinfo_cpu_pct(cpu), mem = sysinfo_mem_pct();
	double disk = sysinfo_disk_free_mb(dir), temp = sysinfo_temperature_c();
	size_t i;
	json_t *r;

	json_array_foreach(reports, i, r) {
		json_object_set_new(r, "device_id", json_string(device_id));
		json_object_set_new(r, "timestamp", json_real(now));
		if (!isnan(cpu_pct))
			json_object_set_new(r, "cpu_pct", json_real(cpu_pct));
		if (!isnan(mem))
			json_object_set_new(r, "mem_pct", json_real(mem));
		if (!isnan(disk))
			json_object_set_new(r, "disk_free_mb", json_real(disk));
		if (!isnan(temp) && temp > -100 && temp < 200)
			json_object_set_new(r, "temperature_c", json_real(temp));
	}
}

struct reporter {
	struct agent *a;
	struct ctl ctl;
	struct spool *spool;
	struct infer *infer;
	struct sysinfo_cpu cpu;
	char sock[sizeof(((struct conf *)0)->telemetry_socket)];
};

static int label_cb(void *cls, const char *model, char *buf, size_t cap)
{
	return agent_label(cls, model, buf, cap);
}

/* 1 delivered (or refused for good: dropped), 0 to keep for later. */
static int post(struct reporter *rp, json_t *reports)
{
	struct agent *a = rp->a;
	struct ramp_err err = {0};
	char base[512], token[256], cert[512], key[512], ca[512];
	json_t *body;
	int st;

	pthread_mutex_lock(&a->lock);
	snprintf(base, sizeof(base), "%s", a->conf.controller);
	snprintf(token, sizeof(token), "%s", a->conf.token);
	snprintf(cert, sizeof(cert), "%s", a->conf.tls_cert);
	snprintf(key, sizeof(key), "%s", a->conf.tls_key);
	snprintf(ca, sizeof(ca), "%s", a->conf.tls_ca);
	pthread_mutex_unlock(&a->lock);
	/* a new client after SIGHUP changed any of them (a renewed certificate under a new name) */
	if (strcmp(base, rp->ctl.base) || strcmp(token, rp->ctl.token) || strcmp(cert, rp->ctl.cert) ||
	    strcmp(key, rp->ctl.key) || strcmp(ca, rp->ctl.ca) || rp->ctl.curl == NULL) {
		ctl_free(&rp->ctl);
		if (ctl_init(&rp->ctl, base, token, a->version, &err))
			return 0;
		ctl_set_tls(&rp->ctl, cert, key, ca);
	}
	body = json_pack("{s:O}", "reports", reports);
	st = body ? ctl_post(&rp->ctl, "/v1/telemetry", body, &err) : RAMP_ENOMEM;
	json_decref(body);
	if (st == 202 || (st >= 400 && st < 500 && st != 408 && st != 429)) {
		if (st != 202)
			log_warn("msg=\"telemetry refused, dropped\" reports=%zu reason=\"%s\"",
				 json_array_size(reports), err.msg);
		atomic_fetch_add(&a->counters.telemetry_posts, 1);
		atomic_fetch_add(&a->counters.telemetry_reports, json_array_size(reports));
		return 1;
	}
	return 0;
}

/* Sends what the spool holds, oldest first; 1 when it is empty afterwards. */
static int drain(struct reporter *rp)
{
	uint64_t id;
	json_t *batch;

	if (rp->spool == NULL)
		return 1;
	while (!rp->a->stop && (batch = spool_peek(rp->spool, &id)) != NULL) {
		int ok = post(rp, batch);
		json_decref(batch);
		if (!ok)
			return 0;
		spool_drop(rp->spool, id);
	}
	return spool_count(rp->spool) == 0;
}

static json_t *gather(struct reporter *rp)
{
	struct agent *a = rp->a;
	json_t *fresh = json_array();
	char device[129], dir[512];

	if (fresh == NULL)
		return NULL;
	if (rp->infer)
		infer_take(rp->infer, fresh, label_cb, a);
	if (a->hooks.collect)
		a->hooks.collect(a->hooks.cls, fresh);
	pthread_mutex_lock(&a->lock);
	snprintf(device, sizeof(device), "%s", a->device_id);
	snprintf(dir, sizeof(dir), "%s", a->conf.model_dir);
	pthread_mutex_unlock(&a->lock);
	if (!device[0] || json_array_size(fresh) == 0) {
		json_decref(fresh);
		return NULL;
	}
	stamp(fresh, device, dir, &rp->cpu);
	return fresh;
}

/* (Re)opens the inference socket when the configured path changed. */
static void reporter_sources(struct reporter *rp)
{
	struct agent *a = rp->a;
	struct ramp_err err = {0};
	char sock[sizeof(rp->sock)];

	pthread_mutex_lock(&a->lock);
	snprintf(sock, sizeof(sock), "%s", a->conf.telemetry_socket);
	pthread_mutex_unlock(&a->lock);
	if (!strcmp(sock, rp->sock) && (rp->infer || !sock[0]))
		return;
	infer_close(rp->infer);
	rp->infer = NULL;
	memcpy(rp->sock, sock, sizeof(sock));
	if (sock[0] && (rp->infer = infer_open(sock, &err)) == NULL)
		log_error("msg=\"telemetry socket not opened\" path=%s reason=\"%s\"", sock, err.msg);
	else if (sock[0])
		log_info("msg=\"listening for inference figures\" socket=%s", sock);
}

static void *reporter_main(void *arg)
{
	struct reporter *rp = arg;
	struct agent *a = rp->a;

	sysinfo_cpu_pct(&rp->cpu);
	while (!a->stop) {
		double iv;
		json_t *fresh;
		pthread_mutex_lock(&a->lock);
		iv = a->conf.telemetry_s;
		pthread_mutex_unlock(&a->lock);
		reporter_sources(rp);
		nap(a, iv, 0);
		fresh = gather(rp);
		if (drain(rp) && fresh && post(rp, fresh)) {
			json_decref(fresh);
			continue;
		}
		if (fresh && rp->spool) {
			if (spool_push(rp->spool, fresh) == 0)
				atomic_fetch_add(&a->counters.telemetry_spooled, json_array_size(fresh));
			else
				log_warn("msg=\"telemetry not buffered\" reports=%zu",
					 json_array_size(fresh));
		}
		json_decref(fresh);
	}
	infer_close(rp->infer);
	rp->infer = NULL;
	return NULL;
}

/* ---- configuration ---- */

/* Applies a configuration (taking c's memory): the controller client and the store. */
static int apply(struct agent *a, struct conf *c, struct ramp_err *err)
{
	struct ctl ctl;
	const char *dirs[] = {c->model_dir, c->state_dir};

	for (size_t i = 0; i < 2; i++) {
		if (mstore_mkdir_p(dirs[i], i ? 0700 : 0755) != 0) {
			ramp_err_set(err, RAMP_EINVAL, i ? "state-dir" : "model-dir",
				     "cannot create %s: %s", dirs[i], strerror(errno));
			conf_free(c);
			return err->code;
		}
	}
	if (ctl_init(&ctl, c->controller, c->token, a->version, err) != 0) {
		conf_free(c);
		return err->code;
	}
	ctl_set_tls(&ctl, c->tls_cert, c->tls_key, c->tls_ca);
	ctl.cancel = &a->stop;
	ctl_free(&a->ctl);
	a->ctl = ctl;
	pthread_mutex_lock(&a->lock);
	conf_free(&a->conf);
	a->conf = *c;
	pthread_mutex_unlock(&a->lock);
	return 0;
}

/* SIGHUP: re-read the configuration; on error keep the old one.  Refusals are forgotten. */
static void reload(struct agent *a)
{
	struct ramp_err err = {0};
	struct conf c;

	a->reload = 0;
	if (conf_build(&a->defaults, &a->src, &c, &err) != 0 || apply(a, &c, &err) != 0) {
		log_error("msg=\"configuration not reloaded\" reason=\"%s\"", err.msg);
		return;
	}
	for (size_t i = 0; i < a->nslots; i++) {
		a->slots[i].nrefused = 0;
		memset(&a->slots[i].retry, 0, sizeof(a->slots[i].retry));
	}
	a->etag[0] = 0;
	log_info("msg=\"configuration reloaded\" controller=%s platform=%s", a->conf.controller,
		 a->conf.platform[0] ? a->conf.platform : "any");
}

struct agent *agent_new(const struct conf *defaults, const struct conf_src *src,
			const struct agent_hooks *hooks, const char *name_version, struct ramp_err *err)
{
	struct agent *a = calloc(1, sizeof(*a));
	struct conf c;

	if (a == NULL) {
		ramp_err_set(err, RAMP_ENOMEM, "", "out of memory");
		return NULL;
	}
	a->defaults = *defaults;
	a->src = *src;
	a->hooks = *hooks;
	a->rng = (unsigned)getpid() ^ (unsigned)(now_wall() * 1e3);
	snprintf(a->version, sizeof(a->version), "%s", name_version);
	pthread_mutex_init(&a->lock, NULL);
	if (conf_build(defaults, src, &c, err) != 0 || apply(a, &c, err) != 0) {
		agent_free(a);
		return NULL;
	}
	return a;
}

int agent_run(struct agent *a)
{
	struct reporter rp = {.a = a};
	struct ramp_err err = {0};
	char dir[PATH_MAX];
	pthread_t th;
	int started;

	recall_device(a);
	mstore_models(root(a), recover_model, a);
	snprintf(dir, sizeof(dir), "%s/telemetry", a->conf.state_dir);
	if ((rp.spool = spool_open(dir, (size_t)a->conf.telemetry_buffer, &err)) == NULL)
		log_error("msg=\"telemetry is not buffered on disk\" reason=\"%s\"", err.msg);
	enroll(a);
	started = pthread_create(&th, NULL, reporter_main, &rp) == 0;
	if (!started)
		log_error("msg=\"telemetry thread not started\"");
	while (!a->stop) {
		if (a->reload) {
			reload(a);
			enroll(a);
		}
		if (poll_once(a))
			a->poll_fails = 0;
		else
			a->poll_fails++;
		nap(a, poll_interval(a), 1);
	}
	if (started)
		pthread_join(th, NULL);
	ctl_free(&rp.ctl);
	spool_close(rp.spool);
	return 0;
}

void agent_stop(struct agent *a)
{
	a->stop = 1;
}

void agent_reload(struct agent *a)
{
	a->reload = 1;
}

const struct conf *agent_conf(const struct agent *a)
{
	return &a->conf;
}

int agent_label(struct agent *a, const char *model, char *buf, size_t cap)
{
	int rc = -1;

	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < a->nslots; i++) {
		if (strcmp(a->slots[i].model, model) == 0 && a->slots[i].running.version[0]) {
			snprintf(buf, cap, "%s:%s", model, a->slots[i].running.version);
			rc = 0;
		}
	}
	pthread_mutex_unlock(&a->lock);
	return rc;
}

struct agent_counters *agent_counters(struct agent *a)
{
	return &a->counters;
}

void agent_free(struct agent *a)
{
	if (a == NULL)
		return;
	ctl_free(&a->ctl);
	conf_free(&a->conf);
	desired_free(&a->desired);
	pthread_mutex_destroy(&a->lock);
	free(a);
}
