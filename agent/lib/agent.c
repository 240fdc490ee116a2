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
 *   kept previous ──> swap_back ─────────────────> installed (no download)
 *   otherwise: manifest signature ─> downloading ─> verifying (digest, size)
 *              ─> install hook ─> installed | failed "<reason>"
 *
 * A broken-off download or an unreachable controller is transient: the part
 * file stays and the next attempt resumes it after a backoff.
 */
#include "agent.h"

#include "common/log.h"
#include "ctl.h"
#include "fetch.h"
#include "stats.h"
#include "sysinfo.h"
#include "verify.h"

#include <dirent.h>
#include <errno.h>
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
#define AGENT_MAX_PENDING 1000

struct mark {
	char version[129];
	char digest[72];
};

struct slot {
	char model[64];
	struct mark running, prev;
	struct mark refused[AGENT_MAX_REFUSED];
	size_t nrefused;
	struct mark retry;	/* a transient failure of this version... */
	double retry_at, backoff; /* ...is retried at retry_at */
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
	pthread_mutex_t lock;	/* conf's controller/token/intervals and device_id, for the reporter */
	char device_id[129];
	volatile sig_atomic_t stop, reload;
	struct agent_counters counters;
	char last_poll_err[256];
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

static struct slot *slot_for(struct agent *a, const char *model)
{
	for (size_t i = 0; i < a->nslots; i++)
		if (strcmp(a->slots[i].model, model) == 0)
			return &a->slots[i];
	if (a->nslots == AGENT_MAX_MODELS)
		return NULL;
	struct slot *s = &a->slots[a->nslots++];
	memset(s, 0, sizeof(*s));
	snprintf(s->model, sizeof(s->model), "%s", model);
	return s;
}

static void cache_path(const struct agent *a, const char *digest, const char *suffix, char *out,
		       size_t cap)
{
	snprintf(out, cap, "%s/sha256-%s%s", a->conf.cache_dir, digest + 7, suffix);
}

static void report(struct agent *a, const struct desired_model *e, const char *state,
		   const char *detail)
{
	int st = ctl_status(&a->ctl, e->model, e->version, state, detail);
	log_info("msg=\"%s\" model=%s version=%s detail=\"%s\" status_post=%d", state, e->model,
		 e->version, detail ? detail : "", st);
}

/* A permanent refusal: reported once, never retried until a reload. */
static void refuse(struct agent *a, struct slot *s, const struct desired_model *e,
		   const char *why)
{
	mark_set(&s->refused[s->nrefused++ % AGENT_MAX_REFUSED], e);
	if (mark_is(&s->retry, e))
		memset(&s->retry, 0, sizeof(s->retry));
	atomic_fetch_add(&a->counters.failures, 1);
	report(a, e, "failed", why);
}

static int refused(const struct slot *s, const struct desired_model *e)
{
	size_t n = s->nrefused < AGENT_MAX_REFUSED ? s->nrefused : AGENT_MAX_REFUSED;
	for (size_t i = 0; i < n; i++)
		if (mark_is(&s->refused[i], e))
			return 1;
	return 0;
}

/* A transient failure: retried with backoff (1 s doubling to 5 min); reported on the first. */
static void postpone(struct agent *a, struct slot *s, const struct desired_model *e,
		     const char *why, int report_it)
{
	int first = !mark_is(&s->retry, e);
	s->backoff = first ? 1 : fmin(s->backoff * 2, 300);
	mark_set(&s->retry, e);
	s->retry_at = now_mono() + s->backoff;
	log_warn("msg=\"will retry\" model=%s version=%s in_s=%.0f reason=\"%s\"", e->model,
		 e->version, s->backoff, why);
	if (first && report_it) {
		atomic_fetch_add(&a->counters.failures, 1);
		report(a, e, "failed", why);
	}
}

/* Removes cached files no slot runs or keeps, and part files nobody wants now. */
static void cache_prune(struct agent *a)
{
	DIR *d = opendir(a->conf.cache_dir);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char digest[80], path[1200];
		int keep = 0;
		if (strncmp(de->d_name, "sha256-", 7) != 0 || strlen(de->d_name) < 7 + 64)
			continue;
		snprintf(digest, sizeof(digest), "sha256:%.64s", de->d_name + 7);
		for (size_t i = 0; i < a->nslots && !keep; i++)
			keep = !strcmp(a->slots[i].running.digest, digest) ||
			       !strcmp(a->slots[i].prev.digest, digest);
		for (size_t i = 0; i < a->desired.n && !keep; i++)
			keep = strstr(de->d_name, ".part") && !strcmp(a->desired.models[i].digest, digest);
		if (keep)
			continue;
		snprintf(path, sizeof(path), "%s/%s", a->conf.cache_dir, de->d_name);
		unlink(path);
	}
	closedir(d);
}

/* Downloads e into its part file; 0 when the whole file is there. */
static int download(struct agent *a, struct slot *s, const struct desired_model *e,
		    int64_t signed_size, const char *part)
{
	struct fetch_req req = {e->url, ctl_same_origin(&a->ctl, e->url) ? a->conf.token : NULL,
				signed_size >= 0 ? signed_size : a->conf.max_bytes, &a->stop};
	struct fetch_result res;
	struct ramp_err err = {0};
	char why[400];
	int rc;

	report(a, e, "downloading", NULL);
	rc = fetch_resume(&req, part, &res, &err);
	atomic_fetch_add(&a->counters.downloads, 1);
	atomic_fetch_add(&a->counters.download_bytes, (unsigned long)(res.bytes - res.resumed_from));
	if (res.resumed_from > 0)
		atomic_fetch_add(&a->counters.resumes, 1);
	if (rc == 0)
		return 0;
	snprintf(why, sizeof(why), "download %s: %s", e->url, err.msg);
	if (rc == RAMP_ETOOBIG)
		refuse(a, s, e, why);
	else
		postpone(a, s, e, why, res.http_status >= 400);
	return rc;
}

/* Verifies, downloads when needed, checks the file and installs e. */
static void install_new(struct agent *a, struct slot *s, const struct desired_model *e)
{
	struct verify_signed sv;
	struct ramp_err err = {0};
	char path[1100], part[1100], why[600];
	double load_ms = 0;
	struct stat st;
	int cached;

	if (verify_manifest(e, a->conf.pubkey_pem, a->conf.pubkey_len, now_wall(), &sv, &err)) {
		refuse(a, s, e, err.msg);
		return;
	}
	cache_path(a, e->digest, "", path, sizeof(path));
	cache_path(a, e->digest, ".part", part, sizeof(part));
	cached = stat(path, &st) == 0;
	if (!cached && download(a, s, e, sv.size, part) != 0)
		return;
	report(a, e, "verifying", cached ? "cached file" : NULL);
	if (verify_file(cached ? path : part, sv.digest, sv.size, &err) != 0) {
		unlink(cached ? path : part);
		if (err.code == RAMP_EIO)
			postpone(a, s, e, err.msg, 1);
		else
			refuse(a, s, e, err.msg);
		return;
	}
	if (!cached && rename(part, path) != 0) {
		snprintf(why, sizeof(why), "cannot rename %.400s: %.100s", part, strerror(errno));
		postpone(a, s, e, why, 1);
		return;
	}
	if (a->hooks.install(a->hooks.cls, e, path, &load_ms, &err) != 0) {
		snprintf(why, sizeof(why), "load: %s", err.msg);
		unlink(path);
		refuse(a, s, e, why);
		return;
	}
	s->prev = s->running;
	mark_set(&s->running, e);
	memset(&s->retry, 0, sizeof(s->retry));
	atomic_fetch_add(&a->counters.installs, 1);
	snprintf(why, sizeof(why), "loaded in %.1f ms%s", load_ms, cached ? " from the cache" : "");
	report(a, e, "installed", why);
	cache_prune(a);
}

static void reconcile(struct agent *a, const struct desired_model *e)
{
	struct slot *s = slot_for(a, e->model);
	struct ramp_err err = {0};

	if (s == NULL || mark_is(&s->running, e) || refused(s, e))
		return;
	if (mark_is(&s->retry, e) && now_mono() < s->retry_at)
		return;
	if (s->prev.version[0] && mark_is(&s->prev, e)) {
		if (a->hooks.swap_back(a->hooks.cls, e, &err) == 0) {
			struct mark t = s->running;
			s->running = s->prev;
			s->prev = t;
			atomic_fetch_add(&a->counters.swaps_back, 1);
			report(a, e, "installed", "kept previous version swapped back in, no download");
			return;
		}
		log_warn("msg=\"swap back failed, installing again\" reason=\"%s\"", err.msg);
	}
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

static void poll_once(struct agent *a)
{
	struct ramp_err err = {0};
	struct desired d;
	char *body = NULL;
	size_t len = 0;
	int st = ctl_desired(&a->ctl, a->etag, &body, &len, &err);

	atomic_fetch_add(&a->counters.polls, 1);
	if (st == 200 && desired_parse(body, len, &d, &err) == 0) {
		desired_free(&a->desired);
		a->desired = d;
		pthread_mutex_lock(&a->lock);
		snprintf(a->device_id, sizeof(a->device_id), "%s", d.device_id);
		pthread_mutex_unlock(&a->lock);
		a->last_poll_err[0] = 0;
	} else if (st != 304 && strcmp(a->last_poll_err, err.msg) != 0) {
		log_warn("msg=\"poll failed\" reason=\"%s%s%s\"", err.field, err.field[0] ? ": " : "",
			 err.msg);
		snprintf(a->last_poll_err, sizeof(a->last_poll_err), "%s", err.msg);
		if (st == 200)
			a->etag[0] = 0; /* an answer we could not read: ask for it whole again */
	}
	free(body);
	reconcile_all(a);
}

/* Seconds until the next poll: the configured interval, the controller's, or 30. */
static double poll_interval(const struct agent *a)
{
	double iv = a->conf.poll_s > 0 ? a->conf.poll_s
		    : a->desired.poll_after_s > 0 ? a->desired.poll_after_s : 30;
	double now = now_mono();

	for (size_t i = 0; i < a->nslots; i++)
		if (a->slots[i].retry.version[0] && a->slots[i].retry_at > now)
			iv = fmin(iv, fmax(a->slots[i].retry_at - now, 0.05));
	return iv;
}

/* The machine's gauges and the device id and time, added to each report. */
static void stamp(json_t *reports, const char *device_id, const char *cache_dir,
		  struct sysinfo_cpu *cpu)
{
	double now = now_wall(), cpu_pct = sysinfo_cpu_pct(cpu), mem = sysinfo_mem_pct();
	double disk = sysinfo_disk_free_mb(cache_dir), temp = sysinfo_temperature_c();
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
	json_t *pending;
	struct sysinfo_cpu cpu;
};

/* Posts the pending reports; kept for the next round when the controller is unreachable. */
static void flush(struct reporter *rp)
{
	struct agent *a = rp->a;
	struct ramp_err err = {0};
	char base[512], token[256], device[129];
	json_t *body;
	int st;

	pthread_mutex_lock(&a->lock);
	snprintf(base, sizeof(base), "%s", a->conf.controller);
	snprintf(token, sizeof(token), "%s", a->conf.token);
	snprintf(device, sizeof(device), "%s", a->device_id);
	pthread_mutex_unlock(&a->lock);
	if (!device[0] || json_array_size(rp->pending) == 0)
		return;
	if (strcmp(base, rp->ctl.base) || strcmp(token, rp->ctl.token)) {
		ctl_free(&rp->ctl);
		if (ctl_init(&rp->ctl, base, token, a->version, &err))
			return;
	}
	body = json_pack("{s:O}", "reports", rp->pending);
	st = body ? ctl_post(&rp->ctl, "/v1/telemetry", body, &err) : RAMP_ENOMEM;
	json_decref(body);
	if (st == 202 || (st >= 400 && st < 500)) {
		if (st != 202)
			log_warn("msg=\"telemetry refused\" reason=\"%s\"", err.msg);
		atomic_fetch_add(&a->counters.telemetry_posts, 1);
		atomic_fetch_add(&a->counters.telemetry_reports, json_array_size(rp->pending));
		json_array_clear(rp->pending);
	}
}

static void gather(struct reporter *rp)
{
	struct agent *a = rp->a;
	json_t *fresh = json_array();
	char device[129], cache[512];

	if (fresh == NULL || a->hooks.collect == NULL) {
		json_decref(fresh);
		return;
	}
	a->hooks.collect(a->hooks.cls, fresh);
	pthread_mutex_lock(&a->lock);
	snprintf(device, sizeof(device), "%s", a->device_id);
	snprintf(cache, sizeof(cache), "%s", a->conf.cache_dir);
	pthread_mutex_unlock(&a->lock);
	stamp(fresh, device, cache, &rp->cpu);
	json_array_extend(rp->pending, fresh);
	json_decref(fresh);
	while (json_array_size(rp->pending) > AGENT_MAX_PENDING)
		json_array_remove(rp->pending, 0);
}

static void *reporter_main(void *arg)
{
	struct reporter *rp = arg;
	struct agent *a = rp->a;

	sysinfo_cpu_pct(&rp->cpu);
	while (!a->stop) {
		double iv;
		pthread_mutex_lock(&a->lock);
		iv = a->conf.telemetry_s;
		pthread_mutex_unlock(&a->lock);
		nap(a, iv, 0);
		gather(rp);
		flush(rp);
	}
	return NULL;
}

/* Applies a configuration (taking c's memory): the controller client and the cache directory. */
static int apply(struct agent *a, struct conf *c, struct ramp_err *err)
{
	struct ctl ctl;

	if (mkdir(c->cache_dir, 0755) != 0 && errno != EEXIST) {
		ramp_err_set(err, RAMP_EINVAL, "cache", "cannot create cache %s: %s", c->cache_dir,
			     strerror(errno));
		conf_free(c);
		return err->code;
	}
	if (ctl_init(&ctl, c->controller, c->token, a->version, err) != 0) {
		conf_free(c);
		return err->code;
	}
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
	struct reporter rp = {.a = a, .pending = json_array()};
	pthread_t th;
	int started = rp.pending && pthread_create(&th, NULL, reporter_main, &rp) == 0;

	if (!started)
		log_error("msg=\"telemetry thread not started\"");
	while (!a->stop) {
		if (a->reload)
			reload(a);
		poll_once(a);
		nap(a, poll_interval(a), 1);
	}
	if (started)
		pthread_join(th, NULL);
	ctl_free(&rp.ctl);
	json_decref(rp.pending);
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
