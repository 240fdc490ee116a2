/*
 * agent_int.h - what the agent library's own files share behind agent.h;
 * nothing outside agent/lib includes it.  agent.c runs the loop and owns
 * struct agent; install.c takes one desired entry to the running version;
 * enroll.c gets the device its token and keeps its id; reporter.c is the
 * telemetry thread.  Everything here runs on the loop's thread (agent_run's
 * caller) but reporter.c's thread, which reads conf, device_id and the
 * slots only under a->lock: the loop writes those under it.
 */
#ifndef RAMP_AGENT_AGENT_INT_H
#define RAMP_AGENT_AGENT_INT_H

#include "agent.h"
#include "ctl.h"
#include "store.h"
#include "sysinfo.h"

#include <pthread.h>
#include <stdbool.h>
#include <signal.h>

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

/* What became of a delta for the install under way (delta.c). */
struct delta_note {
	int used;		/* the file came from the delta */
	char from_version[MSTORE_VERSION_MAX];
	int64_t bytes, saved;	/* delta bytes, full size minus them */
	char fallback[400];	/* why the delta was not used ("" when it was, or none was offered) */
};

/* What the loop knows of one model (install.c). */
struct slot {
	char model[64];
	struct mark running, prev;	/* running is written under the agent's lock */
	struct mark refused[AGENT_MAX_REFUSED];
	size_t nrefused;
	struct delta_note delta; /* how the install under way got its file */
	struct mark retry;	/* a transient failure of this version... */
	double retry_at, backoff; /* ...is retried at retry_at */
	struct unsent unsent;
	struct mark deferred;	/* the version an update lock holds off... */
	double deferred_at;	/* ...since then (monotonic): max-defer counts from here */
};

struct agent {
	struct conf defaults, conf;
	struct conf_src src;
	struct agent_hooks hooks;
	char version[64];
	struct ctl ctl;		/* the loop's controller client */
	char etag[128];
	struct desired desired;
	struct slot slots[AGENT_MAX_MODELS];
	size_t nslots;
	pthread_mutex_t lock;	/* conf (for the reporter), device_id, nslots, slots' running */
	char device_id[129];
	int sock_locked;		/* consent: "!lock" on the telemetry socket (under lock) */
	char sock_lock_reason[200];
	volatile sig_atomic_t stop, reload;
	volatile sig_atomic_t pushed;	/* mqttc.c left a desired answer to take */
	struct agent_mqtt *mqtt;	/* NULL: no mqtt-url; set and cleared under mqtt_mu */
	pthread_mutex_t mqtt_mu;	/* held by the reporter while it publishes */
	struct agent_counters counters;
	char last_poll_err[256];
	int poll_fails;		/* polls in a row that did not reach the controller */
	unsigned rng;		/* jitter's rand_r state: the loop's thread only */
	/* shadow runs (shadow.c): per model, the candidate kept beside current
	 * and handed to the shadow hook, and one that failed (not retried) */
	struct {
		char model[64];
		struct mark on, failed;
	} shadows[AGENT_MAX_MODELS];
	size_t nshadows;
};

/* agent.c: clocks and waits */

/* Seconds since the epoch (CLOCK_REALTIME). */
double agent__now_wall(void);
/* Seconds on CLOCK_MONOTONIC, for deadlines. */
double agent__now_mono(void);
/* delay scaled into [delay/2, delay) with a->rng; the loop's thread only. */
double agent__jitter(struct agent *a, double delay);
/* Sleeps up to secs; wakes early on stop, and on reload when wake_on_reload. */
void agent__nap(struct agent *a, double secs, int wake_on_reload);

/* install.c: one desired entry, on the loop's thread */

/* Acts on e: nothing, back to the kept previous version, or a fresh install; reports each step. */
void install_reconcile(struct agent *a, const struct desired_model *e);
/* Posts again the statuses the controller did not take; after a poll that reached it. */
void install_report_unsent(struct agent *a);
/* mstore_models callback at start (cls the agent): undoes an unconfirmed swap, reads what runs. */
void install_recover(void *cls, const char *model);

/* install.c, for delta.c and shadow.c */

struct verify_signed;

/* Checks e's manifest with each trusted key: 0 when one verifies it. */
int verify_any(const struct agent *a, const struct desired_model *e, struct verify_signed *sv,
	       struct ramp_err *err);

/* Where to fetch url from (rampd's own artifacts from the configured controller). */
const char *install__fetch_url(const struct agent *a, const char *url, char *buf, size_t cap);

/* delta.c: a delta instead of the full download, on the loop's thread */

struct verify_signed;
struct fetch_result;
enum delta_outcome {
	DELTA_NONE,	/* none offered or deltas are off: download the full file */
	DELTA_DONE,	/* part holds the applied file, its digest checked; got filled */
	DELTA_FALLBACK,	/* it failed for good (s->delta.fallback says why): download the full file */
	DELTA_LATER,	/* its download broke off (kept to resume): try again later, why filled */
};
/*
 * Downloads e's delta (resuming a partial one with Range), checks its own
 * digest, applies it to the running version's file into part + ".apply"
 * (fsync'd, renamed to part only once the result has the signed digest and
 * size). Memory stays under 2^delta-window-log whatever is sent.
 */
enum delta_outcome delta_fetch_apply(struct agent *a, struct slot *s, const struct desired_model *e,
				     const struct verify_signed *sv, const char *part,
				     struct fetch_result *got, char *why, size_t cap);

/* shadow.c: a shadow stage's candidate, on the loop's thread */

/* Fetches and verifies e->shadow into the store beside current (never
 * pointing current at it) and hands it to the shadow hook; drops the one
 * handed before when e has none. Never reports an install. */
void shadow_reconcile(struct agent *a, const struct desired_model *e);

/* enroll.c: the device's identity, on the loop's thread */

/* Enrolls when there is no device token yet; returns when done, stopped or asked to reload. */
void enroll_run(struct agent *a);
/* Reads <state-dir>/device.id into a->device_id; nothing when there is none. */
void enroll_recall_device(struct agent *a);
/* Makes id the device id and, when it changed, writes it to <state-dir>/device.id. */
void enroll_remember_device(struct agent *a, const char *id);

/* mqttc.c: MQTT mode (mqtt-url) */

struct agent_mqtt;
/* Connects (in libmosquitto's thread) once the device id is known; 0, or -1 logged. */
int agent_mqtt_start(struct agent *a);
/* After the reporter is joined. */
void agent_mqtt_stop(struct agent *a);
/* Whether two configurations differ in what the MQTT client was set up
 * with (mqtt-url, credentials, TLS files): SIGHUP then reconnects it. */
bool agent_mqtt_conf_changed(const struct conf *old, const struct conf *now);
/* True while connected to the broker. */
bool agent_mqtt_up(struct agent *a);
/* The last desired answer pushed and not yet taken (the caller frees), or NULL. */
char *agent_mqtt_take(struct agent *a, size_t *len);
/* Publishes {"reports": reports} with QoS 1: 1 once the broker acknowledged
 * it, 0 when not connected or no PUBACK came in time (the caller keeps it). */
int agent_mqtt_publish(struct agent *a, const json_t *reports);

/* reporter.c: the telemetry thread */

struct spool;
struct infer;

struct reporter {
	struct agent *a;
	struct ctl ctl;		/* the thread's own controller client */
	struct spool *spool;	/* NULL: telemetry is not buffered */
	struct infer *infer;	/* NULL: no telemetry socket */
	struct sysinfo_cpu cpu;
	char sock[sizeof(((struct conf *)0)->telemetry_socket)];
	pthread_t th;
	int started;
};

/* Zeroes rp for a and opens the spool; a spool that does not open is logged, not an error. */
void reporter_open(struct reporter *rp, struct agent *a);
/* Starts the telemetry thread; 0, or -1 (logged) when it did not start. */
int reporter_start(struct reporter *rp);
/* After agent_stop: joins the thread if it started, frees the client, closes the spool. */
void reporter_close(struct reporter *rp);

#endif
