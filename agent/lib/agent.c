/*
 * agent.c - the agent's loop and its life (agent.h).  agent_run, on the
 * caller's thread (the loop's thread), reads back what the model store
 * runs (install.c), opens the telemetry spool, enrolls (enroll.c), starts
 * the telemetry thread (reporter.c), and then polls GET /v1/agent/desired
 * with its ETag, hands each entry this agent acts on to install.c and
 * naps until the next poll.  agent_reload (SIGHUP) and agent_stop only
 * set flags: the loop re-reads the configuration between polls, and its
 * naps wake on either.  struct agent (agent_int.h) is made and freed here;
 * its lock guards what the telemetry thread and agent_label read: conf,
 * device_id, the slot count and the slots' running versions.
 */
#include "agent_int.h"

#include "common/clock.h"
#include "common/log.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double agent__now_wall(void)
{
	return clock_wall_s();
}

double agent__now_mono(void)
{
	return clock_mono_s();
}

/* delay scaled into [delay/2, delay): backoff with jitter, so a fleet does not retry in step. */
double agent__jitter(struct agent *a, double delay)
{
	return delay * (0.5 + 0.5 * ((double)rand_r(&a->rng) / ((double)RAND_MAX + 1.0)));
}

/* Sleeps up to secs, waking early when stop or reload is asked for. */
void agent__nap(struct agent *a, double secs, int wake_on_reload)
{
	double until = agent__now_mono() + secs;
	while (!a->stop && !(wake_on_reload && (a->reload || a->pushed))) {
		double left = until - agent__now_mono();
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

/* Acts on the entries of the last desired answer this agent handles. */
static void reconcile_all(struct agent *a)
{
	const struct desired_model *one;

	if (a->hooks.single) {
		one = desired_find(&a->desired, a->conf.model, a->conf.platform);
		if (one)
			install_reconcile(a, one);
		if (one)
			shadow_reconcile(a, one);
		return;
	}
	for (size_t i = 0; i < a->desired.n && !a->stop; i++) {
		const struct desired_model *e = &a->desired.models[i];
		if ((!a->conf.model[0] || !strcmp(a->conf.model, e->model)) &&
		    (!a->conf.platform[0] || !strcmp(a->conf.platform, e->platform))) {
			install_reconcile(a, e);
			shadow_reconcile(a, e);
		}
	}
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
		enroll_remember_device(a, d.device_id);
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
		install_report_unsent(a);
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
	double iv, now = agent__now_mono();

	if (a->poll_fails > 0) {
		double base = c->poll_s > 0 ? fmin(c->poll_s, c->poll_min_s) : c->poll_min_s;
		iv = agent__jitter(a, fmin(base * pow(2, fmin(a->poll_fails - 1, 30)), c->poll_max_s));
	} else if (agent_mqtt_up(a)) {
		iv = c->mqtt_poll_s; /* pushed answers come over MQTT: HTTP is the fallback */
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

/*
 * SIGHUP: re-read the configuration; on error keep the old one.  Refusals
 * and retry backoffs are forgotten, and the next poll asks without an ETag.
 */
static bool reload(struct agent *a)
{
	struct ramp_err err = {0};
	struct conf c;
	bool mqtt_changed;

	a->reload = 0;
	if (conf_build(&a->defaults, &a->src, &c, &err) != 0) {
		log_error("msg=\"configuration not reloaded\" reason=\"%s\"", err.msg);
		return false;
	}
	mqtt_changed = agent_mqtt_conf_changed(&a->conf, &c);
	if (apply(a, &c, &err) != 0) {
		log_error("msg=\"configuration not reloaded\" reason=\"%s\"", err.msg);
		return false;
	}
	for (size_t i = 0; i < a->nslots; i++) {
		a->slots[i].nrefused = 0;
		memset(&a->slots[i].retry, 0, sizeof(a->slots[i].retry));
	}
	a->etag[0] = 0;
	log_info("msg=\"configuration reloaded\" controller=%s platform=%s mqtt_changed=%d",
		 a->conf.controller, a->conf.platform[0] ? a->conf.platform : "any", mqtt_changed);
	return mqtt_changed;
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
	a->rng = (unsigned)getpid() ^ (unsigned)(agent__now_wall() * 1e3);
	snprintf(a->version, sizeof(a->version), "%s", name_version);
	pthread_mutex_init(&a->lock, NULL);
	pthread_mutex_init(&a->mqtt_mu, NULL);
	if (conf_build(defaults, src, &c, err) != 0 || apply(a, &c, err) != 0) {
		agent_free(a);
		return NULL;
	}
	return a;
}

/* An answer pushed over MQTT (mqttc.c): taken as a polled 200 would be,
 * its ETag kept so the next HTTP poll is a 304. */
static void take_pushed(struct agent *a)
{
	struct ramp_err err = {0};
	struct desired d;
	size_t len = 0;
	char *text = agent_mqtt_take(a, &len);
	json_t *j;

	if (text == NULL)
		return;
	if (desired_parse(text, len, &d, &err) == 0) {
		desired_free(&a->desired);
		a->desired = d;
		if ((j = json_loads(text, 0, NULL)) != NULL) {
			const char *etag = json_string_value(json_object_get(j, "etag"));
			if (etag)
				snprintf(a->etag, sizeof(a->etag), "%s", etag);
			json_decref(j);
		}
		atomic_fetch_add(&a->counters.pushed, 1);
		reconcile_all(a);
	} else {
		log_warn("msg=\"pushed answer not read\" reason=\"%s\"", err.msg);
	}
	free(text);
}

int agent_run(struct agent *a)
{
	struct reporter rp;
	double next_poll = 0;
	bool mqtt_tried = false;

	enroll_recall_device(a);
	mstore_models(a->conf.model_dir, install_recover, a);
	reporter_open(&rp, a);
	enroll_run(a);
	reporter_start(&rp);
	while (!a->stop) {
		if (a->reload) {
			if (reload(a)) {
				/* new broker settings: a new client, started after
				 * the poll below (none when mqtt-url was removed) */
				agent_mqtt_stop(a);
				mqtt_tried = false;
			}
			enroll_run(a);
			next_poll = 0;
		}
		if (a->pushed) {
			a->pushed = 0;
			take_pushed(a);
		}
		if (agent__now_mono() >= next_poll) {
			if (poll_once(a))
				a->poll_fails = 0;
			else
				a->poll_fails++;
			/* MQTT once the device id is known (the first answer names it) */
			if (!mqtt_tried && a->conf.mqtt_url[0] && a->device_id[0]) {
				mqtt_tried = true;
				agent_mqtt_start(a);
			}
			next_poll = agent__now_mono() + poll_interval(a);
		} else if (!agent_mqtt_up(a) && next_poll - agent__now_mono() > poll_interval(a)) {
			next_poll = agent__now_mono() + poll_interval(a); /* the broker went away */
		}
		agent__nap(a, next_poll - agent__now_mono(), 1);
	}
	reporter_close(&rp);
	agent_mqtt_stop(a);
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
	pthread_mutex_destroy(&a->mqtt_mu);
	free(a);
}
