/*
 * engine.c - one libuv loop in its own thread:
 *  - the evaluation timer (RAMP_EVAL_INTERVAL): only the replica holding the
 *    PostgreSQL advisory lock evaluates active rollouts;
 *  - the snapshot: other replicas' changes applied as their notices arrive
 *    (LISTEN ramp_changed); loaded whole when a change could not be applied
 *    or notices may have been missed (snapshot_changed, a new LISTEN
 *    session); the catalog read anew every 30 s (manifests expire);
 *  - batched last_seen writes for polling devices (and tokens' last_used),
 *    once a second, and the rollout gauges of /metrics every 5 s;
 *  - a timer for the next maintenance-window opening, so held devices (and
 *    rollbacks waiting for a window) are released at it, not a tick later.
 * The advisory lock and LISTEN sessions are store/leader.c's.
 * HTTP threads talk to it only through uv_async_send and small locked queues.
 */
#include "engine/engine.h"
#include "engine/deltas.h"

#include "auth/auth.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "engine/notify.h"
#include "engine/rollouts.h"
#include "snapshot/snapshot.h"
#include "store/leader.h"
#include "store/store.h"

#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#define CATALOG_EVERY_MS 30000
#define TRIM_EVERY_MS 10000

struct engine {
	struct app *app;
	uv_loop_t loop;
	uv_async_t stop, wake;
	uv_timer_t eval, house, soon, opening;
	bool soon_armed;
	uv_poll_t listen_poll;
	struct store_session *leader, *listener; /* store/leader.h */
	bool listening, listened;
	pthread_t thread;
	atomic_int dirty, eval_soon, rearm;
	uint64_t last_catalog_ms, last_eval_ms, trimmed_ms;
	uint32_t seen_since; /* polls from this second on are not written yet */
};

/* Per-rollout gauges for /metrics, refreshed by every replica's loop. */
static pthread_mutex_t gauges_mu = PTHREAD_MUTEX_INITIALIZER;
static char *gauges_text;
static bool gauges_failed; /* the last refresh ran out of memory: no figures */
static uint64_t gauges_ms;

static void rebuild(struct engine *e)
{
	int rc;

	atomic_store(&e->dirty, 0);
	rc = snapshot_rebuild(e->app);
	if (rc) {
		atomic_store(&e->dirty, 1); /* try again on the next tick */
		log_warn("msg=\"snapshot rebuild failed\" error=\"%s\"", ramp_strerror(rc));
		return;
	}
}

/* The evaluation loop's own figures for /metrics (engine_metrics_text):
 * passes this replica ran as the evaluator, rollouts evaluated, failures,
 * time spent, and when the last pass ended. */
static atomic_ullong eval_passes, eval_rollouts, eval_errors, eval_usec_sum, eval_last_usec;
static atomic_llong eval_last_at_ms;
/* 1 while this replica holds the evaluator lock (as of its last pass) */
static atomic_int eval_leader;

/* The evaluator alone re-signs the TUF timestamp (and snapshot) before
 * they expire, so replicas never race to hand out two of one version. */
static void tuf_refresh(struct engine *e, int64_t now)
{
	bool resigned = false;
	int rc = store_tuf_refresh(e->app->db, now, e->app->cfg.tuf_timestamp_ttl_s, &resigned);

	if (rc)
		log_warn("msg=\"tuf timestamp refresh failed\" error=\"%s\"", ramp_strerror(rc));
	else if (resigned)
		log_info("msg=\"tuf timestamp re-signed\"");
}

/* Whether this replica held the evaluator lock at its last pass (GitOps,
 * the MQTT publisher and the TUF timestamp run only then). */
bool engine_leading(void)
{
	return atomic_load(&eval_leader);
}

static void arm_opening(struct engine *e);

static void evaluate_all(struct engine *e)
{
	json_t *ids = NULL, *v;
	size_t i;
	int64_t now = (int64_t)time(NULL);
	uint64_t t0 = clock_mono_us(), took;

	e->last_eval_ms = clock_mono_ms();
	atomic_store(&eval_leader, store_leader_hold(e->app->db, &e->leader));
	if (!atomic_load(&eval_leader))
		return;
	if (store_rollouts_active(e->app->db, &ids) != 0) {
		atomic_fetch_add(&eval_errors, 1);
		return;
	}
	json_array_foreach(ids, i, v) {
		int64_t id = json_integer_value(v);
		int rc = rollouts_evaluate(e->app, id, now);
		atomic_fetch_add(&eval_rollouts, 1);
		if (rc && rc != RAMP_ECONFLICT) {
			atomic_fetch_add(&eval_errors, 1);
			log_warn("msg=\"evaluation failed\" rollout=%lld error=\"%s\"",
				 (long long)id, ramp_strerror(rc));
		}
	}
	json_decref(ids);
	tuf_refresh(e, now);
	rollouts_windows_tick(e->app, now); /* rollbacks waiting for a window */
	arm_opening(e);
	took = clock_mono_us() - t0;
	atomic_fetch_add(&eval_usec_sum, took);
	atomic_store(&eval_last_usec, took);
	atomic_store(&eval_last_at_ms, (long long)clock_wall_ms());
	atomic_fetch_add(&eval_passes, 1);
}

/* The polls since the last flush (the records' last-seen seconds), as
 * three arrays for the store. */
struct seen_rows {
	char **ids;
	const char **versions;
	double *at;
	size_t n, cap;
	bool failed;
};

static void seen_row(void *ctx, const char *id, uint32_t seen, const char *version)
{
	struct seen_rows *sr = ctx;

	if (sr->failed)
		return;
	if (sr->n == sr->cap) {
		size_t cap = sr->cap ? 2 * sr->cap : 1024;
		char **ids = realloc(sr->ids, cap * sizeof(*ids));
		const char **vs = ids ? realloc(sr->versions, cap * sizeof(*vs)) : NULL;
		double *at = vs ? realloc(sr->at, cap * sizeof(*at)) : NULL;
		if (ids)
			sr->ids = ids;
		if (vs)
			sr->versions = vs;
		if (at == NULL) {
			sr->failed = true;
			return;
		}
		sr->at = at;
		sr->cap = cap;
	}
	/* the id is copied: a deletion may free the record's once the lock is
	 * let go; versions are never freed */
	if ((sr->ids[sr->n] = strdup(id)) == NULL) {
		sr->failed = true;
		return;
	}
	sr->at[sr->n] = seen;
	sr->versions[sr->n++] = version;
}

static void flush_seen(struct engine *e)
{
	struct snapshot *s = snapshot_acquire();
	struct seen_rows sr = {0};
	uint32_t now = (uint32_t)time(NULL);

	if (s == NULL)
		return;
	/* this second again next time: a poll later in it leaves the same value */
	snapshot_seen_since(s, e->seen_since, seen_row, &sr);
	snapshot_release(s);
	/* a failed write is made again next time: the records keep the seconds */
	if (sr.failed || (sr.n > 0 && store_devices_seen(e->app->db, (const char *const *)sr.ids,
							  sr.at, sr.versions, sr.n) != 0))
		log_warn("msg=\"could not write last_seen\" devices=%zu", sr.n);
	else
		e->seen_since = now;
	for (size_t i = 0; i < sr.n; i++)
		free(sr.ids[i]);
	free(sr.ids);
	free(sr.versions);
	free(sr.at);
}

static void on_listen(uv_poll_t *h, int status, int events);

static void start_listening(struct engine *e)
{
	if (e->listening)
		return;
	store_session_close(e->listener);
	e->listener = store_listen_changes(e->app->db);
	if (e->listener == NULL)
		return;
	uv_poll_init(&e->loop, &e->listen_poll, store_session_fd(e->listener));
	e->listen_poll.data = e;
	uv_poll_start(&e->listen_poll, UV_READABLE, on_listen);
	e->listening = true;
	if (e->listened)
		atomic_store(&e->dirty, 1); /* we may have missed something meanwhile */
}

static void stop_listening_cb(uv_handle_t *h)
{
	(void)h;
}

static void on_listen(uv_poll_t *h, int status, int events)
{
	struct engine *e = h->data;
	char **notices = NULL;
	size_t n = 0;
	int rc = RAMP_EUNAVAIL;

	(void)events;
	if (status < 0 || (rc = store_listen_drain(e->listener, &notices, &n)) == RAMP_EUNAVAIL) {
		uv_poll_stop(&e->listen_poll);
		uv_close((uv_handle_t *)&e->listen_poll, stop_listening_cb);
		e->listening = false;
		return;
	}
	if (rc == 0 && n)
		auth_cache_clear(); /* a token may have been revoked elsewhere */
	if (rc == 0 && n && (rc = snapshot_apply_notices(e->app, notices, n)) != 0)
		log_warn("msg=\"could not apply another replica's change\" error=\"%s\"",
			 ramp_strerror(rc));
	store_listen_free(notices, n);
	if (rc)
		rebuild(e);
}

static void evaluate_soon(struct engine *e);

static void on_eval(uv_timer_t *t)
{
	struct engine *e = t->data;

	evaluate_all(e);
	if (atomic_load(&e->dirty))
		rebuild(e);
}

static void refresh_gauges(struct engine *e)
{
	static const char *const states[] = {"progressing", "paused", "awaiting_approval"};
	json_t *rows = NULL, *ro, *a;
	size_t i, j;
	struct buf b = {0};

	if (store_rollout_gauges(e->app->db, &rows) != 0)
		return;
	buf_printf(&b, "# HELP ramp_rollout_stage_index Current stage of each active rollout.\n"
		   "# TYPE ramp_rollout_stage_index gauge\n");
	json_array_foreach(rows, i, ro)
		buf_printf(&b, "ramp_rollout_stage_index{rollout=\"%lld\",model=\"%s\",version=\"%s\"} %lld\n",
			   (long long)json_integer_value(json_object_get(ro, "id")),
			   json_string_value(json_object_get(ro, "model")),
			   json_string_value(json_object_get(ro, "version")),
			   (long long)json_integer_value(json_object_get(ro, "stage")));
	buf_printf(&b, "# HELP ramp_rollout_state Active rollouts by state (1 for the current one).\n"
		   "# TYPE ramp_rollout_state gauge\n");
	json_array_foreach(rows, i, ro)
		for (j = 0; j < 3; j++)
			buf_printf(&b, "ramp_rollout_state{rollout=\"%lld\",model=\"%s\",state=\"%s\"} %d\n",
				   (long long)json_integer_value(json_object_get(ro, "id")),
				   json_string_value(json_object_get(ro, "model")), states[j],
				   strcmp(json_string_value(json_object_get(ro, "state")), states[j]) == 0);
	buf_printf(&b, "# HELP ramp_rollout_assigned_devices Devices assigned the new version.\n"
		   "# TYPE ramp_rollout_assigned_devices gauge\n");
	json_array_foreach(rows, i, ro)
		buf_printf(&b, "ramp_rollout_assigned_devices{rollout=\"%lld\",model=\"%s\"} %lld\n",
			   (long long)json_integer_value(json_object_get(ro, "id")),
			   json_string_value(json_object_get(ro, "model")),
			   (long long)json_integer_value(json_object_get(ro, "assigned")));
	buf_printf(&b, "# HELP ramp_rollout_metric_value Latest value of each gated metric, by arm.\n"
		   "# TYPE ramp_rollout_metric_value gauge\n");
	json_array_foreach(rows, i, ro)
		json_array_foreach(json_object_get(ro, "analysis"), j, a) {
			if (!json_is_number(json_object_get(a, "value")))
				continue;
			buf_printf(&b, "ramp_rollout_metric_value{rollout=\"%lld\",model=\"%s\",metric=\"%s\",arm=\"%s\"} %.17g\n",
				   (long long)json_integer_value(json_object_get(ro, "id")),
				   json_string_value(json_object_get(ro, "model")),
				   json_string_value(json_object_get(a, "metric")),
				   json_string_value(json_object_get(a, "arm")),
				   json_number_value(json_object_get(a, "value")));
		}
	json_decref(rows);
	pthread_mutex_lock(&gauges_mu);
	free(gauges_text);
	gauges_failed = buf_failed(&b);
	gauges_text = gauges_failed ? NULL : b.p; /* taken over from b */
	if (gauges_failed)
		buf_free(&b);
	pthread_mutex_unlock(&gauges_mu);
}

char *engine_metrics_text(struct arena *a)
{
	char *out;

	pthread_mutex_lock(&gauges_mu);
	out = gauges_failed ? NULL : arena_printf(
	    a,
	    "# HELP ramp_evaluations_total Evaluation passes this replica ran as the evaluator.\n"
	    "# TYPE ramp_evaluations_total counter\n"
	    "ramp_evaluations_total %llu\n"
	    "# HELP ramp_evaluation_rollouts_total Active rollouts evaluated, summed over passes.\n"
	    "# TYPE ramp_evaluation_rollouts_total counter\n"
	    "ramp_evaluation_rollouts_total %llu\n"
	    "# HELP ramp_evaluation_errors_total Evaluations that failed (logged as evaluation "
	    "failed).\n"
	    "# TYPE ramp_evaluation_errors_total counter\n"
	    "ramp_evaluation_errors_total %llu\n"
	    "# HELP ramp_evaluation_duration_seconds Time spent in evaluation passes.\n"
	    "# TYPE ramp_evaluation_duration_seconds summary\n"
	    "ramp_evaluation_duration_seconds_sum %.6f\n"
	    "ramp_evaluation_duration_seconds_count %llu\n"
	    "# HELP ramp_evaluation_last_duration_seconds How long the last evaluation pass took.\n"
	    "# TYPE ramp_evaluation_last_duration_seconds gauge\n"
	    "ramp_evaluation_last_duration_seconds %.6f\n"
	    "# HELP ramp_evaluation_last_timestamp_seconds When the last evaluation pass ended "
	    "(Unix time; 0: none yet).\n"
	    "# TYPE ramp_evaluation_last_timestamp_seconds gauge\n"
	    "ramp_evaluation_last_timestamp_seconds %.3f\n"
	    "# HELP ramp_evaluation_set_loads_total Times a rollout's target and assigned devices "
	    "were read whole from the database (between them they follow device changes).\n"
	    "# TYPE ramp_evaluation_set_loads_total counter\n"
	    "ramp_evaluation_set_loads_total %llu\n"
	    "# HELP ramp_evaluator 1 while this replica holds the evaluator lock (one replica "
	    "at a time evaluates rollouts).\n"
	    "# TYPE ramp_evaluator gauge\n"
	    "ramp_evaluator %d\n"
	    "%s",
	    (unsigned long long)atomic_load(&eval_passes),
	    (unsigned long long)atomic_load(&eval_rollouts),
	    (unsigned long long)atomic_load(&eval_errors),
	    (double)atomic_load(&eval_usec_sum) / 1e6,
	    (unsigned long long)atomic_load(&eval_passes),
	    (double)atomic_load(&eval_last_usec) / 1e6, (double)atomic_load(&eval_last_at_ms) / 1e3,
	    (unsigned long long)rollouts_set_loads(), atomic_load(&eval_leader),
	    gauges_text ? gauges_text : "");
	pthread_mutex_unlock(&gauges_mu);
	return out;
}

static void on_house(uv_timer_t *t)
{
	struct engine *e = t->data;

	if (clock_mono_ms() - gauges_ms >= 5000) {
		gauges_ms = clock_mono_ms();
		refresh_gauges(e);
	}
	flush_seen(e);
	if (clock_mono_ms() - e->trimmed_ms >= TRIM_EVERY_MS) {
		/* what bursts (a bulk enrollment, a second of polls) freed goes
		 * back to the system, from every thread's arena */
		e->trimmed_ms = clock_mono_ms();
		malloc_trim(0);
	}
	auth_flush_last_used(e->app);
	if (!e->listening && !uv_is_closing((uv_handle_t *)&e->listen_poll))
		start_listening(e);
	if (atomic_load(&e->dirty))
		rebuild(e);
	if (clock_mono_ms() - e->last_catalog_ms > CATALOG_EVERY_MS) {
		e->last_catalog_ms = clock_mono_ms();
		if (snapshot_catalog_changed(e->app) != 0)
			atomic_store(&e->dirty, 1);
	}
	if (atomic_exchange(&e->eval_soon, 0))
		evaluate_soon(e);
}

/* The opening timer at the next opening anything waits for (a pass that
 * comes early by the loop's clock finds it closed and arms it again). */
static void arm_opening(struct engine *e)
{
	int64_t ms = rollouts_next_opening_ms(e->app);

	atomic_store(&e->rearm, 0);
	if (ms < 0) {
		uv_timer_stop(&e->opening);
		return;
	}
	uv_update_time(&e->loop);
	uv_timer_start(&e->opening, on_eval, /* it arms the next */ (uint64_t)ms, 0);
}

static void on_soon(uv_timer_t *t)
{
	struct engine *e = t->data;

	e->soon_armed = false;
	evaluate_all(e);
	if (atomic_load(&e->dirty))
		rebuild(e);
}

/* An early evaluation after fresh telemetry or a failed install, at most one
 * per EARLY_GAP_MS: now, or as soon as the gap is up. */
#define EARLY_GAP_MS 200
static void evaluate_soon(struct engine *e)
{
	uint64_t since = clock_mono_ms() - e->last_eval_ms;

	if (since >= EARLY_GAP_MS) {
		evaluate_all(e);
		if (atomic_load(&e->dirty))
			rebuild(e);
	} else if (!e->soon_armed) {
		e->soon_armed = true;
		uv_timer_start(&e->soon, on_soon, EARLY_GAP_MS - since, 0);
	}
}

static void on_wake(uv_async_t *a)
{
	struct engine *e = a->data;

	if (atomic_load(&e->dirty))
		rebuild(e);
	if (atomic_exchange(&e->eval_soon, 0))
		evaluate_soon(e);
	if (atomic_load(&e->rearm))
		arm_opening(e);
}

static void on_close(uv_handle_t *h)
{
	(void)h;
}

static void on_stop(uv_async_t *a)
{
	struct engine *e = a->data;

	uv_timer_stop(&e->eval);
	uv_timer_stop(&e->house);
	uv_timer_stop(&e->soon);
	uv_timer_stop(&e->opening);
	uv_close((uv_handle_t *)&e->soon, on_close);
	uv_close((uv_handle_t *)&e->opening, on_close);
	uv_close((uv_handle_t *)&e->eval, on_close);
	uv_close((uv_handle_t *)&e->house, on_close);
	if (e->listening) {
		uv_poll_stop(&e->listen_poll);
		uv_close((uv_handle_t *)&e->listen_poll, on_close);
	}
	uv_close((uv_handle_t *)&e->wake, on_close);
	uv_close((uv_handle_t *)&e->stop, on_close);
}

static void *run(void *arg)
{
	struct engine *e = arg;

	uv_run(&e->loop, UV_RUN_DEFAULT);
	return NULL;
}

int engine_start(struct app *app)
{
	struct engine *e = calloc(1, sizeof(*e));
	uint64_t every = (uint64_t)app->cfg.eval_interval_s * 1000;

	if (e == NULL || uv_loop_init(&e->loop) != 0) {
		free(e);
		return RAMP_ENOMEM;
	}
	e->app = app;
	e->seen_since = (uint32_t)time(NULL);
	uv_async_init(&e->loop, &e->stop, on_stop);
	uv_async_init(&e->loop, &e->wake, on_wake);
	uv_timer_init(&e->loop, &e->eval);
	uv_timer_init(&e->loop, &e->house);
	uv_timer_init(&e->loop, &e->soon);
	uv_timer_init(&e->loop, &e->opening);
	e->stop.data = e->wake.data = e->eval.data = e->house.data = e->soon.data = e;
	e->opening.data = e;
	/* listening before the first load: another replica's change committed
	 * while it reads is applied after it, never lost */
	start_listening(e);
	e->listened = true; /* from now on a new session loads everything anew */
	/* the first snapshot before any poll is answered */
	if (snapshot_rebuild(app) != 0) {
		log_warn("msg=\"first snapshot failed; retrying in the background\"");
		atomic_store(&e->dirty, 1);
	}
	e->last_catalog_ms = clock_mono_ms();
	uv_timer_start(&e->eval, on_eval, every, every);
	uv_timer_start(&e->house, on_house, 1000, 1000);
	app->engine = e;
	if (pthread_create(&e->thread, NULL, run, e) != 0) {
		app->engine = NULL;
		uv_loop_close(&e->loop);
		free(e);
		return RAMP_EINTERNAL;
	}
	return 0;
}

void engine_stop(struct app *app)
{
	struct engine *e = app->engine;

	if (e == NULL)
		return;
	uv_async_send(&e->stop);
	pthread_join(e->thread, NULL);
	uv_loop_close(&e->loop);
	flush_seen(e);
	store_session_close(e->leader);
	store_session_close(e->listener);
	app->engine = NULL;
	free(e);
	snapshot_shutdown();
	pthread_mutex_lock(&gauges_mu);
	free(gauges_text);
	gauges_text = NULL;
	pthread_mutex_unlock(&gauges_mu);
}

void engine_wake(struct app *app)
{
	if (app->engine) {
		atomic_store(&app->engine->eval_soon, 1);
		uv_async_send(&app->engine->wake);
	}
}

uint64_t changed_devices(struct app *app, const char *const *ids, size_t n)
{
	uint64_t gen = 0;

	if (snapshot_devices_changed(app, ids, n, &gen) != 0) {
		snapshot_changed(app);
		gen = 0;
	}
	return gen;
}

uint64_t changed_device(struct app *app, const char *id)
{
	return changed_devices(app, &id, 1);
}

void changed_catalog(struct app *app)
{
	if (snapshot_catalog_changed(app) != 0)
		snapshot_changed(app);
	deltas_kick(); /* a manifest or stable version: deltas it may want */
}

void changed_rollout(struct app *app, int64_t id, const char *const *ids, size_t n)
{
	if (snapshot_rollout_changed(app, id, ids, n) != 0)
		snapshot_changed(app);
	deltas_kick(); /* a new rollout's pairs */
	if (app->engine) { /* it may wait for a window opening sooner than the timer's */
		atomic_store(&app->engine->rearm, 1);
		uv_async_send(&app->engine->wake);
	}
}

void snapshot_changed(struct app *app)
{
	if (app->engine) {
		atomic_store(&app->engine->dirty, 1);
		uv_async_send(&app->engine->wake);
	}
}
