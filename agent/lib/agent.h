/*
 * agent.h - the fleet agent loop that ramp-runner and ramp-agent share.
 *
 * It polls GET /v1/agent/desired with an ETag; for each model entry it acts
 * on, it checks the manifest signature against the configured keys,
 * downloads the file with Range resume into the model store (store.h:
 * <model-dir>/<model>/.partial/), checks the signed digest and size, moves
 * it into <model-dir>/<model>/<version>/, points current at it and calls the
 * binary's install hook (ramp-runner loads it, ramp-agent reloads the
 * inference process and checks its health).  Each step is reported (POST
 * /v1/agent/status: downloading, verifying, installed, failed with the
 * reason, rolled_back).  A failed install points current back and calls the
 * restore hook.  The version that was running stays as previous: when the
 * controller asks for it again it comes back without a download.  The store
 * keeps those two versions per model (N+1).  A telemetry thread posts the
 * inference socket's figures (infer.h) and the hooks' reports every
 * interval with the machine's gauges added, buffering them on disk
 * (spool.h) while the controller is unreachable.  A version that failed
 * verification or loading is remembered and not retried until the
 * configuration is reloaded.
 *
 * Threads: agent_run() runs the loop on the caller's thread and the hooks
 * install/swap_back/restore/resume on it; collect runs on the telemetry
 * thread.
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
	 * Makes the verified file at path (<model-dir>/<model>/current/model,
	 * current already pointing at m's version) m's running version:
	 * load it, or reload the inference process and check its health.
	 * 0 with *load_ms, or an error with err->msg the reason; the loop then
	 * points current back and calls restore.
	 */
	int (*install)(void *cls, const struct desired_model *m, const char *path, double *load_ms,
		       struct ramp_err *err);
	/*
	 * May be NULL: makes the kept previous version of m->model running
	 * from memory (ramp-runner keeps it loaded).  When NULL or failing,
	 * install is called with the previous version's file.
	 */
	int (*swap_back)(void *cls, const struct desired_model *m, struct ramp_err *err);
	/* May be NULL: current points at old_version (file at path) again after a failed install. */
	void (*restore)(void *cls, const char *model, const char *old_version, const char *path);
	/*
	 * May be NULL: at start, current of model names version (digest, file
	 * at path) from an earlier run.  0 when it runs now; otherwise the loop
	 * installs it again when the controller asks for it.
	 */
	int (*resume)(void *cls, const char *model, const char *version, const char *digest,
		      const char *path);
	/*
	 * May be NULL: appends telemetry reports (objects with at least
	 * "model": "name:version") to reports, which may already hold the
	 * inference socket's; the agent adds device_id, timestamp and the
	 * machine's gauges.
	 */
	void (*collect)(void *cls, json_t *reports);
	/*
	 * May be NULL: a shadow stage's candidate (docs/judge.md "Shadow runs")
	 * was verified into the store at path (<model-dir>/<model>/<version>/
	 * model, linked as <model>/shadow; current untouched): run it beside
	 * the served version on fraction of live requests. cand NULL: stop
	 * (path NULL). 0, or an error with err->msg (not retried).
	 */
	int (*shadow)(void *cls, const char *model, const struct desired_model *cand,
		      const char *path, double fraction, struct ramp_err *err);
};

/* What the agent did, for the binaries' /metrics. */
struct agent_counters {
	atomic_ulong polls, poll_failures, downloads, download_bytes, resumes, installs,
		swaps_back, failures, telemetry_posts, telemetry_reports, telemetry_spooled,
		delta_installs, delta_fallbacks, delta_bytes_saved,
		pushed; /* desired answers taken from MQTT (mqtt-url) */
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

/*
 * "model:version" of what model runs now into buf (any thread); 0, or -1
 * when this agent runs no version of model.
 */
int agent_label(struct agent *a, const char *model, char *buf, size_t cap);

/* Counters, readable from any thread. */
struct agent_counters *agent_counters(struct agent *a);

/* Frees a (after agent_run returned); NULL is a no-op. */
void agent_free(struct agent *a);

#endif
