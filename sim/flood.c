/*
 * flood.c - the telemetry load generator behind `make bench` figure 2:
 * batches of reports for registered devices posted with an ingest token as
 * fast as the request slots allow, for a fixed time. Bodies are built once
 * up front (each batch a different slice of the devices) so the generator's
 * own CPU stays small beside rampd's; the answer's "accepted" counts.
 */
#include "sim.h"

#include <stdlib.h>
#include <string.h>

#define FLOOD_MAX_BODIES 256

struct flood {
	uint64_t requests, accepted, rejected, errors;
	double secs;
};

static void on_flooded(struct net_req *q, void *ud)
{
	struct flood *f = ud;
	const char *a = q->resp.p ? strstr(q->resp.p, "\"accepted\":") : NULL;

	f->requests++;
	f->secs += q->secs;
	if (q->status == 202 && a) {
		long long n = strtoll(a + 11, NULL, 10);

		f->accepted += (uint64_t)n;
	} else {
		f->errors++;
		if (f->errors <= 3)
			fprintf(stderr, "ramp-sim: flood: HTTP %ld %s%.200s\n", q->status, q->error,
				q->resp.p ? q->resp.p : "");
	}
}

static int build_bodies(struct sim *s, struct buf *bodies, size_t nb, const char *model,
			const char *version)
{
	size_t batch = (size_t)s->o.gateway_batch, k = 0;
	double ts = sim_wall();

	for (size_t b = 0; b < nb; b++) {
		int rc = buf_append(&bodies[b], "[", 1);

		for (size_t i = 0; i < batch && rc == 0; i++, k++) {
			const struct device *d = &s->devs[k % s->ndevs];

			rc |= i ? buf_append(&bodies[b], ",", 1) : 0;
			rc |= gen_report(&bodies[b], &s->gen, d->id, model, version, ts,
					 (int64_t)(s->o.rps > 1 ? s->o.rps : 1), d->speed, NULL, &s->rng);
		}
		if (rc != 0 || buf_append(&bodies[b], "]", 1) != 0)
			return -1;
	}
	return 0;
}

int flood_run(struct sim *s)
{
	char model[128], *version;
	size_t nb = (s->ndevs + (size_t)s->o.gateway_batch - 1) / (size_t)s->o.gateway_batch;
	struct buf *bodies;
	struct flood f = {0};
	uint64_t start, end, next = 0;
	double el;
	int rc = -1;

	snprintf(model, sizeof(model), "%s", s->o.flood_model ? s->o.flood_model : "");
	if ((version = strchr(model, ':')) == NULL || version == model || !version[1]) {
		fprintf(stderr, "ramp-sim: --flood-model must be model:version\n");
		return -1;
	}
	*version++ = '\0';
	if (nb > FLOOD_MAX_BODIES)
		nb = FLOOD_MAX_BODIES;
	if (enroll_ingest_token(s) != 0)
		return -1;
	if ((bodies = calloc(nb, sizeof(*bodies))) == NULL)
		return -1;
	if (build_bodies(s, bodies, nb, model, version) != 0)
		goto out;
	start = sim_now_ms();
	s->start_ms = start;
	end = start + (uint64_t)(s->o.flood_s * 1000);
	while (!*s->stop && sim_now_ms() < end) {
		struct net_req *q;

		while ((q = net_get(s->net)) != NULL) {
			const struct buf *b = &bodies[next++ % nb];

			if (buf_append(&q->body, b->p, b->len) != 0 ||
			    net_send(s->net, q, "POST", "/v1/telemetry", s->ingest_tok,
				     "application/json", NULL, NULL, on_flooded, &f) != 0) {
				net_put(s->net, q);
				f.errors++;
				break;
			}
		}
		net_wait(s->net, 20);
	}
	net_drain(s->net, 60000);
	el = (double)(sim_now_ms() - start) / 1000.0;
	printf("{\"reports_per_s\": %.1f, \"requests\": %llu, \"reports_accepted\": %llu,"
	       " \"errors\": %llu, \"elapsed_s\": %.3f, \"batch\": %d, \"concurrency\": %d,"
	       " \"request_ms_mean\": %.3f}\n",
	       el > 0 ? (double)f.accepted / el : 0, (unsigned long long)f.requests,
	       (unsigned long long)f.accepted, (unsigned long long)f.errors, el,
	       s->o.gateway_batch, s->o.concurrency,
	       f.requests ? f.secs * 1000 / (double)f.requests : 0);
	rc = f.errors ? -1 : 0;
out:
	for (size_t i = 0; i < nb; i++)
		buf_free(&bodies[i]);
	free(bodies);
	return rc;
}
