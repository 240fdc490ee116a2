/*
 * agent.h - the fleet agent loop that ramp-runner and ramp-agent share.
 *
 * It polls GET /v1/agent/desired with an ETag; for each model entry it acts
 * on, it checks the manifest signature against the configured key, downloads
 * the file with Range resume into a content-addressed cache
 * (<cache>/sha256-<hex>, ".part" while incomplete), checks the signed digest
 * and size, and hands the file to the binary's install hook.  Each step is
 * reported (POST /v1/agent/status: downloading, verifying, installed,
 * failed with the reason).  The version that was running stays "previous":
 * when the controller asks for it again, the swap_back hook brings it back
 * without a download.  The cache keeps those two files per model (N+1).
 * A telemetry thread posts the hooks' reports every interval with the
 * machine's gauges added.  A version that failed verification or loading is
 * remembered and never retried until the configuration is reloaded.
 *
 * Threads: agent_run() runs the loop on the caller's thread and the hooks
 * install/swap_back on it; collect runs on the telemetry thread.
 */
#ifndef RAMP_AGENT_AGENT_H
#define RAMP_AGENT_AGENT_H

#include <jansson.h>
#include <stdatomic.h>

#include "common/err.h"
#include "conf.h"
#include "desired.h"

struct agent_hooks {
	void *cls;
	/* Act on one model only: conf's name, or the first the controller names. */
	int single;
	/*
	 * Loads and checks the verified file at path, then makes it m's running
	 * version; the running one becomes the kept previous one.  0 with
	 * *load_ms, or an error with err->msg the reason, the running version
	 * unchanged.
	 */
	int (*install)(void *cls, const struct desired_model *m, const char *path, double *load_ms,
		       struct ramp_err *err);
	/* Makes the kept previous version of m->model the running one again (and the running one the previous). */
	int (*swap_back)(void *cls, const struct desired_model *m, struct ramp_err *err);
	/*
	 * Appends telemetry reports (objects with at least "model":
	 * "name:version") to reports; the agent adds device_id, timestamp and
	 * the machine's gauges.  May be NULL.
	 */
	void (*collect)(void *cls, json_t *reports);
};

/* What the agent did, for the binaries' /metrics. */
struct agent_counters {
	atomic_ulong polls, downloads, download_bytes, resumes, installs, swaps_back, failures,
		telemetry_posts, telemetry_reports;
};

struct agent;

/*
 * Builds the configuration (conf_build with defaults and src) and an agent
 * around hooks (copied).  name_version ("ramp-runner/1") is sent as
 * X-Agent-Version.  NULL with *err filled on a bad configuration.
 */
struct agent *agent_new(const struct conf *defaults, const struct conf_src *src,
			const struct agent_hooks *hooks, const char *name_version, struct ramp_err *err);

/* Runs until agent_stop(); 0.  Call curl_global_init() before. */
int agent_run(struct agent *a);

/* Async-signal-safe: ask the loop to stop / to re-read its configuration. */
void agent_stop(struct agent *a);
void agent_reload(struct agent *a);

/* The current configuration; only for hooks (it changes on the loop's thread). */
const struct conf *agent_conf(const struct agent *a);

/* Counters, readable from any thread. */
struct agent_counters *agent_counters(struct agent *a);

/* Frees a (after agent_run returned); NULL is a no-op. */
void agent_free(struct agent *a);

#endif
