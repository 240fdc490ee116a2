/*
 * reporter.c - the telemetry thread: every telemetry-interval it takes the
 * inference socket's figures (infer.h) and the collect hook's reports, adds
 * the device id, the time and the machine's gauges, and posts them to
 * POST /v1/telemetry; what the controller does not take waits in the
 * on-disk spool (spool.h) and goes first, oldest first, when it answers.
 * Runs on its own thread, started by agent_run after enrollment and joined
 * at stop.  Of the agent it reads conf, device_id and (agent_label) the
 * running versions only under a->lock, and it keeps its own controller
 * client, made again when SIGHUP changed the address or the credentials.
 * The collect hook runs on this thread.
 */
#include "agent_int.h"

#include "common/log.h"
#include "infer.h"
#include "spool.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* The machine's gauges and the device id and time, added to each report. */
static void stamp(json_t *reports, const char *device_id, const char *dir,
		  struct sysinfo_cpu *cpu)
{
	double now = agent__now_wall(), cpu_pct = sysinfo_cpu_pct(cpu), mem = sysinfo_mem_pct();
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
	/* MQTT mode: the broker's PUBACK is delivery; HTTP when it is down */
	if (agent_mqtt_publish(a, reports)) {
		atomic_fetch_add(&a->counters.telemetry_posts, 1);
		atomic_fetch_add(&a->counters.telemetry_reports, json_array_size(reports));
		return 1;
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
/* Consent lines from the inference process (infer.h), on the listener thread. */
static void on_sock_lock(void *ctx, int locked, const char *reason)
{
	struct agent *a = ctx;

	pthread_mutex_lock(&a->lock);
	if (a->sock_locked != locked)
		log_info("msg=\"update lock %s on the telemetry socket\" reason=\"%s\"",
			 locked ? "taken" : "released", reason);
	a->sock_locked = locked;
	snprintf(a->sock_lock_reason, sizeof(a->sock_lock_reason), "%s", reason);
	pthread_mutex_unlock(&a->lock);
}

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
	on_sock_lock(a, 0, ""); /* a lock dies with its socket */
	memcpy(rp->sock, sock, sizeof(sock));
	if (sock[0] && (rp->infer = infer_open(sock, &err)) == NULL)
		log_error("msg=\"telemetry socket not opened\" path=%s reason=\"%s\"", sock, err.msg);
	else if (sock[0])
		log_info("msg=\"listening for inference figures\" socket=%s", sock);
	if (rp->infer)
		infer_on_lock(rp->infer, on_sock_lock, a);
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
		agent__nap(a, iv, 0);
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

void reporter_open(struct reporter *rp, struct agent *a)
{
	struct ramp_err err = {0};
	char dir[PATH_MAX];

	*rp = (struct reporter){.a = a};
	snprintf(dir, sizeof(dir), "%s/telemetry", a->conf.state_dir);
	if ((rp->spool = spool_open(dir, (size_t)a->conf.telemetry_buffer, &err)) == NULL)
		log_error("msg=\"telemetry is not buffered on disk\" reason=\"%s\"", err.msg);
}

int reporter_start(struct reporter *rp)
{
	rp->started = pthread_create(&rp->th, NULL, reporter_main, rp) == 0;
	if (!rp->started) {
		log_error("msg=\"telemetry thread not started\"");
		return -1;
	}
	return 0;
}

void reporter_close(struct reporter *rp)
{
	if (rp->started)
		pthread_join(rp->th, NULL);
	rp->started = 0;
	ctl_free(&rp->ctl);
	spool_close(rp->spool);
	rp->spool = NULL;
}
