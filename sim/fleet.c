/*
 * fleet.c - the simulated devices. Each device is a small state machine
 * driven by the event heap (sched.h): a poll every poll interval (with
 * jitter), a telemetry report every report interval, and install steps when
 * a poll names a version it does not run:
 *
 *   desired != running -> downloading -> [GET artifact] -> verifying
 *        -> installed (running = desired) | failed (not retried until the
 *           desired version changes)
 *
 * A device has at most one request in flight; work that comes due while it
 * is busy waits in its `pending` bits, and devices with pending work wait in
 * a ready ring until a request slot frees. Installs go first, then polls,
 * then reports. In gateway mode reports are pooled and posted in batches
 * with an ingest token instead of one request per device.
 */
#include "sim.h"

#include "common/hex.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum step { STEP_NONE, STEP_DOWNLOADING, STEP_FETCH, STEP_VERIFYING, STEP_INSTALLED, STEP_FAILED };

#define GW_MAX_REPORTS 10000
#define GW_MAX_BYTES (900u * 1024u)
#define GW_FLUSH_MS 250

static struct sim *S; /* the one simulation this process runs */

static uint32_t dev_index(const struct device *d)
{
	return (uint32_t)(d - S->devs);
}

static void ready_push(struct device *d)
{
	if (d->queued || d->busy || !d->pending || !d->active)
		return;
	S->ready[(S->ready_head + S->ready_len) % S->ndevs] = dev_index(d);
	S->ready_len++;
	d->queued = 1;
}

static void schedule(struct device *d, enum sim_ev k, uint64_t at_ms)
{
	d->due[k] = at_ms;
	if (sched_push(&S->sched, at_ms, dev_index(d), (uint32_t)k) != 0) {
		fprintf(stderr, "ramp-sim: out of memory scheduling events\n");
		*S->stop = 1;
	}
}

static uint64_t interval_ms(double base_s)
{
	double j = S->o.jitter * (2 * spec_rng_unit(&S->rng) - 1);
	double ms = base_s * 1000 * (1 + j);

	return ms < 1 ? 1 : (uint64_t)ms;
}

static double poll_s(void)
{
	return S->o.poll_s > 0 ? S->o.poll_s : (S->server_poll_s > 0 ? S->server_poll_s : 30);
}

static const char *platform_name(const struct device *d)
{
	return S->spec.platforms[d->platform].name;
}

static struct dev_model *model_slot(struct device *d, uint16_t model)
{
	for (int i = 0; i < d->nmodels; i++)
		if (d->m[i].model == model)
			return &d->m[i];
	if (d->nmodels == SIM_MAX_MODELS)
		return NULL;
	d->m[d->nmodels] = (struct dev_model){.model = model};
	return &d->m[d->nmodels++];
}

static void remember_variant(uint16_t model, uint16_t version, uint16_t platform, const char *url,
			     const char *digest)
{
	struct variant *v;

	for (size_t i = 0; i < S->nvariants; i++) {
		v = &S->variants[i];
		if (v->model == model && v->version == version && v->platform == platform)
			return;
	}
	if ((v = realloc(S->variants, (S->nvariants + 1) * sizeof(*v))) == NULL)
		return;
	S->variants = v;
	v = &S->variants[S->nvariants];
	*v = (struct variant){model, version, platform, strdup(url ? url : ""), ""};
	snprintf(v->digest, sizeof(v->digest), "%s", digest ? digest : "");
	S->nvariants++;
}

static const struct variant *variant_of(uint16_t model, uint16_t version, uint16_t platform)
{
	for (size_t i = 0; i < S->nvariants; i++) {
		const struct variant *v = &S->variants[i];

		if (v->model == model && v->version == version && v->platform == platform)
			return v;
	}
	return NULL;
}

/* --- polls --- */

static void take_desired(struct device *d, const char *text, size_t len)
{
	json_t *j = json_loadb(text, len, 0, NULL), *m;
	json_int_t after = json_integer_value(json_object_get(j, "poll_after_s"));
	size_t i;

	if (j == NULL) {
		S->st.poll_errors++;
		return;
	}
	if (after > 0)
		S->server_poll_s = (int)after;
	json_array_foreach(json_object_get(j, "models"), i, m) {
		const char *model = json_string_value(json_object_get(m, "model"));
		const char *version = json_string_value(json_object_get(m, "version"));
		const char *plat = json_string_value(json_object_get(m, "platform"));
		struct dev_model *dm;
		uint16_t mi, vi;

		if (model == NULL || version == NULL || (mi = sim_intern(S, model)) == 0 ||
		    (vi = sim_intern(S, version)) == 0 || (dm = model_slot(d, mi)) == NULL)
			continue;
		remember_variant(mi, vi, sim_intern(S, plat ? plat : ""),
				 json_string_value(json_object_get(m, "url")),
				 json_string_value(json_object_get(m, "digest")));
		if (dm->desired != vi && dm->failed == vi)
			dm->failed = 0; /* told again after something else: try again */
		dm->desired = vi;
		if (dm->step == STEP_NONE && vi != dm->running && vi != dm->failed && !S->o.once) {
			dm->target = vi;
			dm->step = STEP_DOWNLOADING;
			d->pending |= 1u << EV_INSTALL;
		}
	}
	json_decref(j);
}

static void on_polled(struct net_req *q, void *ud)
{
	struct device *d = ud;
	uint64_t now = sim_now_ms();

	d->busy = 0;
	S->st.polls++;
	S->plat[d->platform].polls++;
	S->st.poll_secs_sum += q->secs;
	if (q->secs > S->st.poll_secs_max)
		S->st.poll_secs_max = q->secs;
	if (q->status == 304) {
		S->st.polls_304++;
	} else if (q->status == 200) {
		S->st.polls_200++;
		size_t n = strlen(q->etag);

		if (n > 0 && n < sizeof(d->etag))
			memcpy(d->etag, q->etag, n + 1);
		take_desired(d, q->resp.p, q->resp.len);
	} else {
		S->st.poll_errors++;
	}
	if (S->o.once) {
		if (!d->polled && S->once_left > 0)
			S->once_left--;
	} else {
		schedule(d, EV_POLL, now + interval_ms(poll_s()));
	}
	d->polled = 1;
	ready_push(d);
}

static int start_poll(struct device *d, struct net_req *q)
{
	char inm[96];

	if (d->etag[0])
		snprintf(inm, sizeof(inm), "If-None-Match: %s", d->etag);
	return net_send(S->net, q, "GET", "/v1/agent/desired", d->token, NULL,
			d->etag[0] ? inm : NULL, "X-Agent-Version: ramp-sim/1", on_polled, d);
}

/* --- installs --- */

static struct dev_model *installing(struct device *d)
{
	for (int i = 0; i < d->nmodels; i++)
		if (d->m[i].step != STEP_NONE)
			return &d->m[i];
	return NULL;
}

static void after_step(struct device *d, uint64_t delay_ms)
{
	if (delay_ms == 0)
		d->pending |= 1u << EV_INSTALL;
	else
		schedule(d, EV_INSTALL, sim_now_ms() + delay_ms);
}

static void on_status(struct net_req *q, void *ud)
{
	struct device *d = ud;
	struct dev_model *m = installing(d);
	uint64_t delay = 0;

	d->busy = 0;
	S->st.status_posts++;
	S->plat[d->platform].status_posts++;
	if (m == NULL) {
		ready_push(d);
		return;
	}
	if (q->status != 204) {
		S->st.status_errors++;
		after_step(d, 1000); /* the same step again */
		ready_push(d);
		return;
	}
	switch (m->step) {
	case STEP_DOWNLOADING:
		m->step = S->o.download ? STEP_FETCH : STEP_VERIFYING;
		delay = (uint64_t)(S->o.install_s * 1000);
		break;
	case STEP_VERIFYING: {
		const struct spec_fault *f =
			spec_fault_for(&S->spec, S->strings[m->target], platform_name(d));

		m->step = f && spec_rng_unit(&S->rng) < f->install_fail ? STEP_FAILED
									 : STEP_INSTALLED;
		break;
	}
	case STEP_INSTALLED:
		if (m->running != m->target)
			m->previous = m->running;
		m->running = m->target;
		m->step = STEP_NONE;
		S->st.installs++;
		S->plat[d->platform].installs++;
		break;
	case STEP_FAILED:
		m->failed = m->target;
		m->step = STEP_NONE;
		S->st.install_failures++;
		S->plat[d->platform].install_failures++;
		break;
	default:
		break;
	}
	if (m->step != STEP_NONE)
		after_step(d, delay);
	else if (m->desired != m->running && m->desired != m->failed)
		after_step(d, 0); /* told something else meanwhile */
	ready_push(d);
}

static void on_fetched(struct net_req *q, void *ud)
{
	struct device *d = ud;
	struct dev_model *m = installing(d);
	const struct variant *v;
	char hex[80] = "sha256:";

	d->busy = 0;
	S->st.downloads++;
	S->st.download_bytes += (uint64_t)q->bytes;
	if (m == NULL) {
		ready_push(d);
		return;
	}
	hex_encode(hex + 7, q->md, 32);
	v = variant_of(m->model, m->target, sim_intern(S, platform_name(d)));
	if (q->status != 200 && q->status != 206) {
		m->step = STEP_FAILED;
	} else if (v == NULL || strcmp(v->digest, hex) != 0) {
		S->st.digest_mismatches++;
		m->step = STEP_FAILED;
	} else {
		m->step = STEP_VERIFYING;
	}
	after_step(d, 0);
	ready_push(d);
}

static int post_status(struct device *d, struct net_req *q, struct dev_model *m, const char *state,
		       const char *detail)
{
	int rc = buf_printf(&q->body, "{\"model\":\"%s\",\"version\":\"%s\",\"state\":\"%s\"",
			     S->strings[m->model], S->strings[m->target], state);

	if (detail) {
		rc |= buf_append(&q->body, ",\"detail\":", 10);
		rc |= buf_append_json_str(&q->body, detail);
	}
	rc |= buf_append(&q->body, "}", 1);
	return rc ? -1
		  : net_send(S->net, q, "POST", "/v1/agent/status", d->token, "application/json",
			     NULL, NULL, on_status, d);
}

/* The next install step of d on slot q; 1 when a request went out, 0 when
 * there was nothing to send (q unused), -1 on a send failure. */
static int start_install(struct device *d, struct net_req *q)
{
	struct dev_model *m = installing(d);
	const struct variant *v;

	if (m == NULL)
		return 0;
	if (m->desired != m->target) {
		/* told something else mid-install: go for that instead */
		if (m->desired == m->running || m->desired == m->failed) {
			m->step = STEP_NONE;
			return 0;
		}
		m->target = m->desired;
		m->step = STEP_DOWNLOADING;
	}
	if (m->step == STEP_DOWNLOADING && m->target == m->previous)
		m->step = STEP_INSTALLED; /* still cached: an instant swap back */
	switch (m->step) {
	case STEP_DOWNLOADING:
		return post_status(d, q, m, "downloading", NULL) == 0 ? 1 : -1;
	case STEP_FETCH:
		v = variant_of(m->model, m->target, sim_intern(S, platform_name(d)));
		if (v == NULL || v->url == NULL || v->url[0] == '\0') {
			m->step = STEP_FAILED;
			return post_status(d, q, m, "failed", "no artifact url") == 0 ? 1 : -1;
		}
		q->hash = 1;
		return net_send(S->net, q, "GET", v->url, d->token, NULL, "Range: bytes=0-", NULL,
				on_fetched, d) == 0
			       ? 1
			       : -1;
	case STEP_VERIFYING:
		return post_status(d, q, m, "verifying", NULL) == 0 ? 1 : -1;
	case STEP_INSTALLED:
		return post_status(d, q, m, "installed", NULL) == 0 ? 1 : -1;
	case STEP_FAILED:
		return post_status(d, q, m, "failed",
				   S->o.download ? "artifact download or digest check failed"
						 : "simulated install failure") == 0
			       ? 1
			       : -1;
	default:
		return 0;
	}
}

/* --- telemetry --- */

static int64_t requests_per_report(void)
{
	double r = S->o.rps * S->o.report_s;

	return r < 1 ? 1 : (int64_t)llround(r);
}

/* Appends d's reports (one per model it runs) to b, comma separated; the count. */
static int add_reports(struct device *d, struct buf *b, int first)
{
	int n = 0;
	double ts = sim_wall();

	for (int i = 0; i < d->nmodels; i++) {
		const struct dev_model *m = &d->m[i];
		const char *ver;

		if (m->running == 0)
			continue;
		ver = S->strings[m->running];
		if ((!first || n > 0) && buf_append(b, ",", 1) != 0)
			break;
		if (gen_report(b, &S->gen, d->id, S->strings[m->model], ver, ts,
			       requests_per_report(), d->speed,
			       spec_fault_for(&S->spec, ver, platform_name(d)), &S->rng) != 0)
			break;
		n++;
	}
	return n;
}

static void count_answer(struct net_req *q, int sent)
{
	const char *a = q->resp.p ? strstr(q->resp.p, "\"accepted\":") : NULL;
	long long acc = 0;

	S->st.telemetry_posts++;
	if (q->status == 202 && a)
		acc = strtoll(a + 11, NULL, 10);
	else
		S->st.telemetry_errors++;
	S->st.reports_accepted += (uint64_t)acc;
	S->st.reports_rejected += (uint64_t)(sent - acc);
}

static void on_reported(struct net_req *q, void *ud)
{
	struct device *d = ud;

	d->busy = 0;
	count_answer(q, d->sent);
	ready_push(d);
}

static int start_report(struct device *d, struct net_req *q)
{
	int n;

	buf_append(&q->body, "[", 1);
	n = add_reports(d, &q->body, 1);
	buf_append(&q->body, "]", 1);
	if (n == 0)
		return 0;
	d->sent = (uint8_t)n;
	S->st.reports_sent += (uint64_t)n;
	S->plat[d->platform].reports += (uint64_t)n;
	return net_send(S->net, q, "POST", "/v1/telemetry", d->token, "application/json", NULL, NULL,
			on_reported, d) == 0
		       ? 1
		       : -1;
}

static void gateway_add(struct device *d)
{
	int n;

	if (S->gw_count >= GW_MAX_REPORTS || S->gw.len >= GW_MAX_BYTES) {
		S->reports_dropped++;
		return;
	}
	n = add_reports(d, &S->gw, S->gw_count == 0);
	S->gw_count += (size_t)n;
	S->st.reports_sent += (uint64_t)n;
	S->plat[d->platform].reports += (uint64_t)n;
}

static void on_gw_posted(struct net_req *q, void *ud)
{
	S->gw_inflight--;
	count_answer(q, (int)(intptr_t)ud);
}

static void gateway_flush(uint64_t now, int force)
{
	struct net_req *q;
	size_t n = S->gw_count;

	if (n == 0 || (!force && n < (size_t)S->o.gateway_batch && now - S->gw_last_ms < GW_FLUSH_MS))
		return;
	if ((q = net_get(S->net)) == NULL)
		return;
	buf_append(&q->body, "[", 1);
	buf_append(&q->body, S->gw.p, S->gw.len);
	buf_append(&q->body, "]", 1);
	buf_reset(&S->gw);
	S->gw_count = 0;
	S->gw_last_ms = now;
	if (net_send(S->net, q, "POST", "/v1/telemetry", S->ingest_tok, "application/json", NULL,
		     NULL, on_gw_posted, (void *)(intptr_t)n) == 0)
		S->gw_inflight++;
	else
		S->st.telemetry_errors++;
}

/* --- the loop --- */

/* Starts d's most urgent pending work on a free slot; 0 when none was free. */
static int dispatch(struct device *d)
{
	struct net_req *q;
	int rc = 0;

	while (d->pending && rc == 0) {
		enum sim_ev k = d->pending & (1u << EV_INSTALL) ? EV_INSTALL
				: d->pending & (1u << EV_POLL) ? EV_POLL
							       : EV_REPORT;

		d->pending &= (uint8_t)~(1u << k);
		if (k == EV_REPORT) {
			schedule(d, EV_REPORT, sim_now_ms() + interval_ms(S->o.report_s));
			if (S->o.telemetry == TELEM_GATEWAY) {
				gateway_add(d);
				continue;
			}
			if (S->o.telemetry == TELEM_OFF)
				continue;
		}
		if ((q = net_get(S->net)) == NULL) {
			d->pending |= (uint8_t)(1u << k);
			return 0;
		}
		d->busy = 1;
		rc = k == EV_INSTALL ? start_install(d, q)
		     : k == EV_POLL  ? (start_poll(d, q) == 0 ? 1 : -1)
				     : start_report(d, q);
		if (rc != 1) {
			d->busy = 0;
			if (rc == 0)
				net_put(S->net, q); /* nothing to send after all */
			if (rc < 0)
				S->st.poll_errors++;
			rc = 0;
		}
	}
	return 1;
}

static void activate(size_t from, size_t to, uint64_t now)
{
	for (size_t i = from; i < to; i++) {
		struct device *d = &S->devs[i];
		double spread = S->o.once ? 0 : poll_s();

		if (d->token == NULL)
			continue;
		d->active = 1;
		schedule(d, EV_POLL, now + (uint64_t)(spread * 1000 * spec_rng_unit(&S->rng)));
		if (!S->o.once)
			schedule(d, EV_REPORT,
				 now + (uint64_t)(S->o.report_s * 1000 * (0.5 + spec_rng_unit(&S->rng))));
	}
	if (to > S->nactive)
		S->nactive = to;
}

static void pop_due(uint64_t now)
{
	struct sched_ev ev;

	while (sched_pop_due(&S->sched, now, &ev)) {
		struct device *d = &S->devs[ev.dev];

		if (d->due[ev.kind] != ev.at_ms || !d->active)
			continue; /* rescheduled since */
		d->pending |= (uint8_t)(1u << ev.kind);
		ready_push(d);
	}
}

static void run_ready(void)
{
	while (S->ready_len > 0) {
		struct device *d = &S->devs[S->ready[S->ready_head]];

		if (!dispatch(d))
			return; /* no slot: d keeps its place at the head */
		S->ready_head = (S->ready_head + 1) % S->ndevs;
		S->ready_len--;
		d->queued = 0;
		ready_push(d); /* more pending (e.g. a report after a gateway add) */
	}
}

static void late_enroll(uint64_t now)
{
	size_t from = (size_t)S->o.devices, to = from + (size_t)S->o.late;

	S->late_done = 1;
	if (enroll_range(S, from, to) != 0)
		fprintf(stderr, "ramp-sim: late enrollment failed\n");
	activate(from, to, sim_now_ms());
	(void)now;
}

static void on_probed(struct net_req *q, void *ud)
{
	const char *a = q->status == 200 && q->resp.p ? strstr(q->resp.p, "\"poll_after_s\":") : NULL;
	long v = a ? strtol(a + 15, NULL, 10) : 0;

	(void)ud;
	if (v > 0)
		S->server_poll_s = (int)v;
}

/* Asks once for the server's poll_after_s, so the first polls spread over
 * the interval the devices will keep. */
static void probe_interval(void)
{
	struct net_req *q;

	if (S->o.poll_s > 0 || S->nactive == 0 || (q = net_get(S->net)) == NULL)
		return;
	if (net_send(S->net, q, "GET", "/v1/agent/desired", S->devs[0].token, NULL, NULL, NULL,
		     on_probed, NULL) == 0)
		net_drain(S->net, 10000);
}

int fleet_run(struct sim *s)
{
	uint64_t end;

	S = s;
	if ((s->ready = calloc(s->ndevs ? s->ndevs : 1, sizeof(uint32_t))) == NULL)
		return -1;
	s->start_ms = s->last_progress_ms = s->last_stats_ms = sim_now_ms();
	end = s->o.duration_s > 0 ? s->start_ms + (uint64_t)(s->o.duration_s * 1000) : UINT64_MAX;
	s->once_left = (int)s->nactive;
	probe_interval();
	activate(0, s->nactive, s->start_ms);
	s->late_done = s->o.late == 0;
	while (!*s->stop) {
		uint64_t now = sim_now_ms(), next;
		int timeout;

		if (now >= end || (s->o.once && s->once_left == 0))
			break;
		if (!s->late_done &&
		    (*s->late_signal ||
		     (s->o.late_after_s >= 0 &&
		      now >= s->start_ms + (uint64_t)(s->o.late_after_s * 1000))))
			late_enroll(now);
		pop_due(now);
		if (s->o.telemetry == TELEM_GATEWAY)
			gateway_flush(now, s->gw_count >= (size_t)s->o.gateway_batch);
		run_ready();
		if (s->o.progress_s > 0 && now - s->last_progress_ms >= s->o.progress_s * 1000)
			report_progress(s, now, 0);
		if (s->o.stats_file && now - s->last_stats_ms >= 500) {
			s->last_stats_ms = now;
			report_stats_file(s);
		}
		next = sched_next(&s->sched);
		timeout = next <= now ? 0 : next - now > 50 ? 50 : (int)(next - now);
		if (s->ready_len > 0 && net_idle(s->net) > 0)
			timeout = 0;
		net_wait(s->net, timeout > 0 ? timeout : 1);
	}
	if (s->o.telemetry == TELEM_GATEWAY)
		gateway_flush(sim_now_ms(), 1);
	net_drain(s->net, 5000);
	if (s->o.stats_file)
		report_stats_file(s);
	return 0;
}
