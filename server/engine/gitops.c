/*
 * gitops.c - the reconciler's thread (gitops.h): a ticker that each second
 * asks whether a sync is due (the interval passed, a kick, or a backoff
 * ended) and whether this replica is the evaluator; a sync fetches, applies
 * a new head whole or refuses it naming the file, reconciles the releases
 * and writes the status document. Fetching blocks (network), which is why
 * this is not on the engine's libuv loop.
 *
 *   fetch ok ──> head == applied? ──yes──> reconcile releases, drift
 *      │              └─no──> signer gate ─> read tree ─> parse ─> apply
 *      │                        any failure: refused (head kept), last_error
 *      └─ fails: unreachable_since, backoff (interval x2 up to x16); the
 *         last applied state stays and is still reconciled
 */
#include "engine/gitops.h"

#include "common/clock.h"
#include "common/log.h"
#include "common/ticker.h"
#include "engine/engine.h"
#include "engine/gitops_int.h"
#include "store/store_gitops.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct gitops *G;

/* Figures for /metrics, read by HTTP threads. */
static pthread_mutex_t metrics_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_llong m_sync_at, m_syncs, m_failures, m_unreachable;
static char m_applied[41];

bool gitops_enabled(void)
{
	return G != NULL;
}

void gitops_sync_now(bool retry)
{
	if (G == NULL)
		return;
	if (retry)
		atomic_store(&G->retry, true);
	atomic_store(&G->force, true);
	ticker_kick(G->ticker);
}

/* The URL without user:password@ (the status and logs never show a token). */
static void safe_url(const char *url, char *out, size_t len)
{
	const char *scheme = strstr(url, "://"), *at = scheme ? strchr(scheme + 3, '@') : NULL;
	const char *slash = scheme ? strchr(scheme + 3, '/') : NULL;

	if (at && (slash == NULL || at < slash))
		snprintf(out, len, "%.*s%s", (int)(scheme + 3 - url), url, at + 1);
	else
		snprintf(out, len, "%s", url);
}

static json_t *time_or_null(int64_t t)
{
	char buf[32];
	struct tm tm;
	time_t tt = (time_t)t;

	if (t == 0)
		return json_null();
	gmtime_r(&tt, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(buf);
}

static json_t *commit_or_null(const char *c)
{
	return c[0] ? json_string(c) : json_null();
}

static void write_status(struct gitops *g)
{
	const struct config *cfg = &g->app->cfg;
	char url[1024];
	json_t *st;
	const char *state = g->unreachable_since ? "unreachable"
			    : g->last_error	    ? "error"
			    : g->applied[0]	    ? "synced"
						    : "pending";

	safe_url(cfg->gitops_repo, url, sizeof(url));
	st = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:O?, s:O?, s:b}",
		       "repo", url, "branch", cfg->gitops_branch, "path", cfg->gitops_path,
		       "state", state, "fetched_commit", commit_or_null(g->fetched),
		       "fetched_at", time_or_null(g->fetched_at), "applied_commit",
		       commit_or_null(g->applied), "applied_at", time_or_null(g->applied_at),
		       "last_sync_at", time_or_null(g->sync_at), "unreachable_since",
		       time_or_null(g->unreachable_since), "failures",
		       (json_int_t)atomic_load(&m_failures), "last_error", g->last_error,
		       "objects", g->objects, "self_heal", cfg->gitops_self_heal != 0);
	if (st && store_gitops_status_put(g->app->db, st) != 0)
		log_warn("msg=\"gitops status not written\"");
	json_decref(st);
}

/* gitops.synced / gitops.failed to subscribed webhooks. */
static void event(struct gitops *g, const char *type, const char *commit, json_t *error)
{
	char url[1024];
	json_t *p;

	safe_url(g->app->cfg.gitops_repo, url, sizeof(url));
	p = json_pack("{s:s, s:o, s:{s:s, s:s, s:o, s:O?}}", "type", type, "at",
		      time_or_null((int64_t)time(NULL)), "gitops", "repo", url, "branch",
		      g->app->cfg.gitops_branch, "commit", commit_or_null(commit), "error", error);
	if (p && store_gitops_event(g->app->db, type, p) != 0)
		log_warn("msg=\"gitops event not queued\" type=%s", type);
	json_decref(p);
}

static void set_error(struct gitops *g, const char *commit, const struct gitops_err *e)
{
	json_decref(g->last_error);
	g->last_error = json_pack("{s:o, s:s, s:i, s:s, s:o}", "commit", commit_or_null(commit),
				  "file", e->file, "line", e->line, "reason", e->reason, "at",
				  time_or_null((int64_t)time(NULL)));
	atomic_fetch_add(&m_failures, 1);
	if (commit[0] || g->unreachable_since == 0) /* an outage is told once */
		event(g, "gitops.failed", commit, g->last_error);
	log_warn("msg=\"gitops sync refused\" commit=%s file=\"%s\" line=%d reason=\"%s\"",
		 commit, e->file, e->line, e->reason);
}

/* The file as the repository names it: RAMP_GITOPS_PATH in front. */
static void full_path(const struct config *cfg, struct gitops_err *e)
{
	const char *root = cfg->gitops_path;
	char f[sizeof(e->file)];

	while (*root == '/')
		root++;
	if (root[0] == '\0' || e->file[0] == '\0')
		return;
	snprintf(f, sizeof(f), "%.100s/%.150s", root, e->file);
	while (strstr(f, "//"))
		memmove(strstr(f, "//"), strstr(f, "//") + 1, strlen(strstr(f, "//")));
	snprintf(e->file, sizeof(e->file), "%s", f);
}

/* A new head: applied whole, or refused with the first reason. */
static void apply_head(struct gitops *g, const char *head)
{
	struct gitops_files files;
	struct gitops_state st;
	struct gitops_err e;
	char why[512];
	int rc;

	memset(&e, 0, sizeof(e));
	if (g->app->cfg.gitops_allowed_signers[0] &&
	    gitops_check_signer(g, head, why, sizeof(why)) != 0) {
		snprintf(e.reason, sizeof(e.reason), "%.300s", why);
		set_error(g, head, &e);
		snprintf(g->refused, sizeof(g->refused), "%s", head);
		return;
	}
	rc = gitops_read_commit(g, head, &files, &st, &e);
	if (rc == 0 && (rc = gitops_apply(g, &st, &e)) != 0) {
		gitops_state_free(&st);
		gitops_files_free(&files);
	}
	if (rc) {
		full_path(&g->app->cfg, &e);
		set_error(g, head, &e);
		snprintf(g->refused, sizeof(g->refused), "%s", head);
		return;
	}
	if (g->have_state) {
		gitops_state_free(&g->state);
		gitops_files_free(&g->files);
	}
	g->state = st;
	g->files = files;
	g->have_state = true;
	snprintf(g->applied, sizeof(g->applied), "%s", head);
	g->applied_at = (int64_t)time(NULL);
	g->refused[0] = '\0';
	json_decref(g->last_error);
	g->last_error = NULL;
	pthread_mutex_lock(&metrics_mu);
	snprintf(m_applied, sizeof(m_applied), "%s", head);
	pthread_mutex_unlock(&metrics_mu);
	event(g, "gitops.synced", head, NULL);
	log_info("msg=\"gitops applied\" commit=%s", head);
}

/* After a restart: the applied commit (from the status) read back. */
static void restore(struct gitops *g)
{
	json_t *st = NULL;
	const char *c;
	struct gitops_err e;

	if (store_gitops_status_get(g->app->db, &st) != 0)
		return;
	c = json_string_value(json_object_get(st, "applied_commit"));
	if (c && strlen(c) == 40 && gitops_read_commit(g, c, &g->files, &g->state, &e) == 0) {
		g->have_state = true;
		snprintf(g->applied, sizeof(g->applied), "%s", c);
		snprintf(m_applied, sizeof(m_applied), "%s", c);
	}
	json_decref(st);
}

static bool stopping(void *ticker)
{
	return ticker_stopping(ticker);
}

static void sync_once(struct gitops *g, bool forced)
{
	const struct config *cfg = &g->app->cfg;
	struct gitops_remote rm = {cfg->gitops_repo,	   cfg->gitops_branch, cfg->gitops_token_file,
				   cfg->gitops_ssh_key,	   stopping,	       g->ticker};
	char head[41], why[512];
	int64_t now = (int64_t)time(NULL);
	int rc = gitops_git_fetch(g->repo, &rm, head, why, sizeof(why));

	g->sync_at = now;
	atomic_store(&m_sync_at, now);
	if (rc) {
		struct gitops_err e = {.line = 0};
		snprintf(e.reason, sizeof(e.reason), "%.300s", why);
		set_error(g, "", &e); /* before unreachable_since: the outage's first is told */
		if (g->unreachable_since == 0)
			g->unreachable_since = now;
		g->backoff_s = g->backoff_s ? g->backoff_s * 2 : cfg->gitops_interval_s;
		if (g->backoff_s > 16 * cfg->gitops_interval_s)
			g->backoff_s = 16 * cfg->gitops_interval_s;
		g->next_due_ms = clock_mono_ms() + 1000LL * g->backoff_s;
		atomic_store(&m_unreachable, 1);
	} else {
		if (g->unreachable_since && g->last_error)
			json_decref(g->last_error), g->last_error = NULL;
		g->unreachable_since = 0;
		g->backoff_s = 0;
		g->next_due_ms = clock_mono_ms() + 1000LL * cfg->gitops_interval_s;
		g->fetched_at = now;
		atomic_store(&m_unreachable, 0);
		snprintf(g->fetched, sizeof(g->fetched), "%s", head);
		if (strcmp(head, g->applied) != 0 && (forced || strcmp(head, g->refused) != 0))
			apply_head(g, head);
	}
	if (g->have_state)
		gitops_reconcile(g);
	atomic_fetch_add(&m_syncs, 1);
	write_status(g);
}

static bool round_fn(struct ticker *t, void *ctx)
{
	struct gitops *g = ctx;
	bool forced = atomic_load(&g->force);

	if (!forced && clock_mono_ms() < g->next_due_ms)
		return false;
	if (!engine_leading())
		return false; /* another replica reconciles; ask again next second */
	atomic_store(&g->force, false);
	if (atomic_exchange(&g->retry, false) && store_gitops_release_forget(g->app->db, "gitops") != 0)
		atomic_store(&g->retry, true);
	if (!g->have_state && g->applied[0] == '\0')
		restore(g);
	sync_once(g, forced);
	return false;
}

int gitops_start(struct app *app)
{
	char dir[PATH_MAX + 32], why[512];
	struct gitops *g;
	int rc;

	if (app->cfg.gitops_repo[0] == '\0')
		return 0;
	g = calloc(1, sizeof(*g));
	if (g == NULL)
		return RAMP_ENOMEM;
	g->app = app;
	snprintf(dir, sizeof(dir), "%s/gitops.git", app->cfg.data_dir);
	if ((rc = gitops_git_open(dir, &g->repo, why, sizeof(why))) != 0) {
		log_error("msg=\"gitops disabled\" error=\"%s\"", why);
		free(g);
		return rc;
	}
	G = g;
	g->ticker = ticker_start(1000, round_fn, g);
	if (g->ticker == NULL) {
		gitops_git_close(g->repo);
		free(g);
		G = NULL;
		return RAMP_ENOMEM;
	}
	return 0;
}

void gitops_stop(void)
{
	struct gitops *g = G;

	if (g == NULL)
		return;
	ticker_stop(g->ticker);
	G = NULL;
	if (g->have_state) {
		gitops_state_free(&g->state);
		gitops_files_free(&g->files);
	}
	json_decref(g->last_error);
	json_decref(g->objects);
	gitops_git_close(g->repo);
	free(g);
}

char *gitops_metrics_text(struct arena *a)
{
	char applied[41];

	if (G == NULL)
		return arena_strdup(a, "");
	pthread_mutex_lock(&metrics_mu);
	snprintf(applied, sizeof(applied), "%s", m_applied);
	pthread_mutex_unlock(&metrics_mu);
	return arena_printf(
		a,
		"# HELP ramp_gitops_last_sync_timestamp_seconds When the reconciler last synced.\n"
		"# TYPE ramp_gitops_last_sync_timestamp_seconds gauge\n"
		"ramp_gitops_last_sync_timestamp_seconds %lld\n"
		"# HELP ramp_gitops_syncs_total Syncs this replica ran.\n"
		"# TYPE ramp_gitops_syncs_total counter\n"
		"ramp_gitops_syncs_total %lld\n"
		"# HELP ramp_gitops_sync_failures_total Fetches that failed and commits refused.\n"
		"# TYPE ramp_gitops_sync_failures_total counter\n"
		"ramp_gitops_sync_failures_total %lld\n"
		"# HELP ramp_gitops_remote_unreachable Whether the last fetch failed.\n"
		"# TYPE ramp_gitops_remote_unreachable gauge\n"
		"ramp_gitops_remote_unreachable %lld\n"
		"# HELP ramp_gitops_info The commit ramp applied last.\n"
		"# TYPE ramp_gitops_info gauge\n"
		"ramp_gitops_info{branch=\"%s\",commit=\"%s\"} 1\n",
		(long long)atomic_load(&m_sync_at), (long long)atomic_load(&m_syncs),
		(long long)atomic_load(&m_failures), (long long)atomic_load(&m_unreachable),
		G->app->cfg.gitops_branch, applied);
}
