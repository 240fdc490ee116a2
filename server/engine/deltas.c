/*
 * deltas.c - the delta builder (deltas.h). Each round asks the store for
 * the (from, to) pairs active rollouts want and have no delta for, and
 * builds the first one whose two files are in the artifact store; a round
 * that built one runs again at once, so a new rollout's pairs are made one
 * after another, never two at once. A pair that failed or gave nothing
 * smaller than the artifact is recorded (delta_failures) and not tried
 * again before its retry time, which doubles with each failure. Each
 * RAMP_DELTA_INTERVAL the round also prunes deltas nothing needs any more
 * (store_delta_gc.h), built or uploaded, even with the builder off.
 *
 * CPU: the thread runs at nice 10 and libzstd single-threaded. Memory:
 * libzstd's tables grow with the window, capped by RAMP_DELTA_WINDOW_LOG
 * (pairs needing more are skipped, and a device never has to hold more);
 * the old file is mapped, not read into the heap; inputs over RAMP_DELTA_MAX
 * are skipped.
 */
#include "engine/deltas.h"

#include "common/clock.h"
#include "common/log.h"
#include "common/strlist.h"
#include "common/strmap.h"
#include "common/ticker.h"
#include "common/zpatch.h"
#include "engine/notify.h"
#include "store/blobs.h"
#include "store/store.h"
#include "store/store_delta_gc.h"

#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static struct {
	struct app *app;
	struct ticker *ticker;
	struct strmap *skip; /* pairs whose failure could not be recorded; the ticker thread's */
	bool niced;
	uint64_t gc_ms; /* when the last prune ran (monotonic) */
} B;

static atomic_ullong built, failed, build_ms_total, served, saved_bytes, pruned, pruned_bytes,
	gc_passes;

struct wanted {
	struct strlist pairs; /* from, to, from, to, ... */
};

static int on_wanted(void *ctx, const char *from, const char *to)
{
	struct wanted *w = ctx;
	int rc = strlist_push(&w->pairs, from);

	return rc ? rc : strlist_push(&w->pairs, to);
}

static void skip(const char *key, const char *why, const char *from, const char *to)
{
	log_warn("msg=\"delta not built\" from=%s to=%s reason=\"%s\"", from, to, why);
	/* remembered in the database, so a restart or another replica waits too */
	if (store_delta_failed(B.app->db, from, to, why, B.app->cfg.delta_retry_s) != 0)
		strmap_set(B.skip, key, (void *)1);
	atomic_fetch_add(&failed, 1);
}

/* Builds from -> to into the artifact store and records it; true when it did. */
static bool build_one(const char *from, const char *to, const char *key)
{
	const struct config *cfg = &B.app->cfg;
	struct zpatch_make_opts o = {cfg->delta_level, cfg->delta_window_log, cfg->delta_max};
	struct zpatch_stats st;
	struct ramp_err err = {0};
	char oldp[PATH_MAX], newp[PATH_MAX], tmp[PATH_MAX], digest[72], why[320];
	double t0 = clock_mono_s();
	int fd, rc;
	int64_t ms;
	bool created;

	/* with the database store this replica may hold neither file yet */
	if (blob_local(B.app, from, oldp, sizeof(oldp)) != 0 ||
	    blob_local(B.app, to, newp, sizeof(newp)) != 0) {
		log_warn("msg=\"delta not built: artifact unreadable\" from=%s to=%s", from, to);
		return false; /* tried again next round */
	}
	if ((fd = blob_temp(B.app, tmp, sizeof(tmp))) < 0) {
		skip(key, "no temporary file in the artifact store", from, to);
		return false;
	}
	log_info("msg=\"building delta\" from=%s to=%s level=%d", from, to, cfg->delta_level);
	rc = zpatch_make(oldp, newp, fd, &o, &st, &err);
	if (rc == 0 && st.delta_size >= st.new_size)
		rc = ramp_err_set(&err, RAMP_ETOOBIG, "", "the delta (%lld bytes) is no smaller than"
				  " the artifact", (long long)st.delta_size);
	if (rc == 0 && blob_commit(B.app, fd, tmp, digest) != 0)
		rc = ramp_err_set(&err, RAMP_EIO, "", "could not store the delta");
	close(fd);
	if (rc != 0) {
		unlink(tmp);
		snprintf(why, sizeof(why), "%s", err.msg);
		skip(key, why, from, to);
		return false;
	}
	ms = (int64_t)((clock_mono_s() - t0) * 1000);
	if ((rc = store_delta_put(B.app->db, "rampd", from, to, digest, st.delta_size, "built", ms,
				  &created)) != 0) {
		log_warn("msg=\"delta not recorded\" from=%s to=%s error=\"%s\"", from, to,
			 ramp_strerror(rc));
		return false; /* the file stays (content-addressed); tried again next round */
	}
	atomic_fetch_add(&built, 1);
	atomic_fetch_add(&build_ms_total, (unsigned long long)ms);
	log_info("msg=\"delta built\" from=%s to=%s digest=%s old_bytes=%lld new_bytes=%lld"
		 " delta_bytes=%lld window_log=%d ms=%lld", from, to, digest,
		 (long long)st.old_size, (long long)st.new_size, (long long)st.delta_size,
		 st.window_log, (long long)ms);
	changed_catalog(B.app);
	return true;
}

static void on_pruned(void *ctx, const char *digest, int64_t size, bool orphan)
{
	(void)ctx;
	log_info("msg=\"delta deleted: nothing needs it\" digest=%s bytes=%lld", digest,
		 (long long)size);
	atomic_fetch_add(&pruned, 1);
	atomic_fetch_add(&pruned_bytes, (unsigned long long)(size > 0 ? size : 0));
	if (orphan && blob_remove(B.app, digest) != 0)
		log_warn("msg=\"could not remove a deleted delta's file\" digest=%s", digest);
}

/* Deltas nothing needs, once per RAMP_DELTA_INTERVAL: out of the database
 * and the snapshot first, then their files. */
static void prune(void)
{
	int n = 0;

	if (B.gc_ms && clock_mono_ms() - B.gc_ms < (uint64_t)B.app->cfg.delta_interval_s * 1000)
		return;
	B.gc_ms = clock_mono_ms();
	if (store_delta_gc(B.app->db, B.app->cfg.delta_retention_s, on_pruned, NULL, &n) != 0) {
		log_warn("msg=\"delta housekeeping failed\"");
		return;
	}
	if (n > 0)
		changed_catalog(B.app); /* no answer offers them any more */
	atomic_fetch_add(&gc_passes, 1);
}

static bool round_fn(struct ticker *t, void *ctx)
{
	struct wanted w = {0};
	bool again = false;
	char key[160];

	(void)ctx;
	if (!B.niced) { /* this thread only: requests keep their priority */
		setpriority(PRIO_PROCESS, (id_t)gettid(), 10);
		B.niced = true;
	}
	prune();
	if (!B.app->cfg.delta_build)
		return false;
	if (store_delta_wanted(B.app->db, on_wanted, &w) != 0) {
		strlist_free(&w.pairs);
		return false;
	}
	for (size_t i = 0; i + 1 < w.pairs.n && !ticker_stopping(t); i += 2) {
		const char *from = w.pairs.v[i], *to = w.pairs.v[i + 1];
		snprintf(key, sizeof(key), "%s>%s", from, to);
		if (strmap_get(B.skip, key))
			continue;
		if (blob_size(B.app, from) < 0 || blob_size(B.app, to) < 0)
			continue; /* not (yet) in the store: looked at again next round */
		again = build_one(from, to, key);
		break; /* one per round: the next starts at once when this one built */
	}
	strlist_free(&w.pairs);
	return again;
}

int deltas_start(struct app *app)
{
	B.app = app;
	if ((B.skip = strmap_new()) == NULL ||
	    (B.ticker = ticker_start(app->cfg.delta_interval_s * 1000, round_fn, NULL)) == NULL) {
		log_error("msg=\"could not start the delta builder\"");
		strmap_free(B.skip);
		B.skip = NULL;
		return RAMP_EINTERNAL;
	}
	return 0;
}

void deltas_stop(void)
{
	ticker_stop(B.ticker);
	B.ticker = NULL;
	strmap_free(B.skip);
	B.skip = NULL;
}

void deltas_kick(void)
{
	if (B.ticker)
		ticker_kick(B.ticker);
}

void deltas_count_served(int64_t saved)
{
	atomic_fetch_add(&served, 1);
	if (saved > 0)
		atomic_fetch_add(&saved_bytes, (unsigned long long)saved);
}

char *deltas_metrics_text(struct arena *a)
{
	return arena_printf(
		a,
		"# HELP ramp_deltas_built_total Deltas this replica built.\n"
		"# TYPE ramp_deltas_built_total counter\n"
		"ramp_deltas_built_total %llu\n"
		"# HELP ramp_deltas_build_failures_total Pairs the builder gave up on (caps, no gain, I/O).\n"
		"# TYPE ramp_deltas_build_failures_total counter\n"
		"ramp_deltas_build_failures_total %llu\n"
		"# HELP ramp_deltas_build_seconds_total Time spent building deltas.\n"
		"# TYPE ramp_deltas_build_seconds_total counter\n"
		"ramp_deltas_build_seconds_total %.3f\n"
		"# HELP ramp_delta_downloads_total Deltas served to their last byte.\n"
		"# TYPE ramp_delta_downloads_total counter\n"
		"ramp_delta_downloads_total %llu\n"
		"# HELP ramp_delta_bytes_saved_total Full artifact bytes minus delta bytes, per delta served.\n"
		"# TYPE ramp_delta_bytes_saved_total counter\n"
		"ramp_delta_bytes_saved_total %llu\n"
		"# HELP ramp_deltas_deleted_total Deltas deleted because nothing needed them any more.\n"
		"# TYPE ramp_deltas_deleted_total counter\n"
		"ramp_deltas_deleted_total %llu\n"
		"# HELP ramp_deltas_deleted_bytes_total Bytes of the deltas deleted.\n"
		"# TYPE ramp_deltas_deleted_bytes_total counter\n"
		"ramp_deltas_deleted_bytes_total %llu\n"
		"# HELP ramp_delta_housekeeping_passes_total Passes that looked for deltas to delete.\n"
		"# TYPE ramp_delta_housekeeping_passes_total counter\n"
		"ramp_delta_housekeeping_passes_total %llu\n",
		(unsigned long long)atomic_load(&built), (unsigned long long)atomic_load(&failed),
		(double)atomic_load(&build_ms_total) / 1000.0, (unsigned long long)atomic_load(&served),
		(unsigned long long)atomic_load(&saved_bytes),
		(unsigned long long)atomic_load(&pruned), (unsigned long long)atomic_load(&pruned_bytes),
		(unsigned long long)atomic_load(&gc_passes));
}
