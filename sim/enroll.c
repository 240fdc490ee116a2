/*
 * enroll.c - getting devices into rampd: bulk POST /v1/devices (up to
 * 10,000 per request, all or nothing), or a tokens file from an earlier run;
 * and writing the tokens file that wrk scripts and later runs read.
 */
#include "sim.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct chunk {
	struct sim *s;
	size_t from, to;
	int done, ok;
};

static int body_for(struct sim *s, struct buf *b, size_t from, size_t to)
{
	int rc = buf_append(b, "[", 1);

	for (size_t i = from; rc == 0 && i < to; i++) {
		struct device *d = &s->devs[i];
		struct spec_rng r;

		spec_rng_seed(&r, s->o.seed * 1000003ULL + i);
		rc |= buf_printf(b, "%s{\"id\":\"%s\",\"platform\":", i > from ? "," : "", d->id);
		rc |= buf_append_json_str(b, s->spec.platforms[d->platform].name);
		rc |= buf_append(b, ",\"labels\":{", 11);
		for (size_t k = 0; k < s->spec.nlabels; k++) {
			const struct spec_label *l = &s->spec.labels[k];

			rc |= buf_printf(b, "%s", k ? "," : "");
			rc |= buf_append_json_str(b, l->key);
			rc |= buf_append(b, ":", 1);
			rc |= buf_append_json_str(b, l->values[spec_rng_next(&r) % l->nvalues]);
		}
		rc |= buf_append(b, "}}", 2);
	}
	return rc | buf_append(b, "]", 1);
}

static void take_tokens(struct chunk *c, json_t *list)
{
	size_t n = c->to - c->from, i;
	json_t *it;

	json_array_foreach(list, i, it) {
		const char *id = json_string_value(json_object_get(it, "id"));
		const char *tok = json_string_value(json_object_get(it, "token"));
		struct device *d = i < n ? &c->s->devs[c->from + i] : NULL;

		if (id == NULL || tok == NULL)
			continue;
		if (d == NULL || strcmp(d->id, id) != 0) {
			d = NULL;
			for (size_t k = c->from; k < c->to && d == NULL; k++)
				if (strcmp(c->s->devs[k].id, id) == 0)
					d = &c->s->devs[k];
		}
		if (d && d->token == NULL && (d->token = strdup(tok)) != NULL)
			c->s->st.enrolled++;
	}
}

static void on_enrolled(struct net_req *q, void *ud)
{
	struct chunk *c = ud;
	json_t *j;

	c->done = 1;
	if (q->status != 201) {
		fprintf(stderr, "ramp-sim: enrolling %s..%s: HTTP %ld %s%.300s\n",
			c->s->devs[c->from].id, c->s->devs[c->to - 1].id, q->status, q->error,
			q->resp.p ? q->resp.p : "");
		c->s->st.enroll_errors++;
		return;
	}
	if ((j = json_loadb(q->resp.p, q->resp.len, 0, NULL)) == NULL) {
		fprintf(stderr, "ramp-sim: enrolling: the answer is not JSON\n");
		c->s->st.enroll_errors++;
		return;
	}
	take_tokens(c, json_object_get(j, "devices"));
	json_decref(j);
	c->ok = 1;
}

int enroll_range(struct sim *s, size_t from, size_t to)
{
	size_t batch = (size_t)s->o.enroll_batch, nchunks = (to - from + batch - 1) / batch;
	struct chunk *cs = calloc(nchunks ? nchunks : 1, sizeof(*cs));
	size_t next = 0, ended = 0;
	int inflight = 0, ok = 1;

	if (cs == NULL)
		return -1;
	for (size_t i = 0; i < nchunks; i++)
		cs[i] = (struct chunk){s, from + i * batch,
				       from + (i + 1) * batch < to ? from + (i + 1) * batch : to, 0, 0};
	while (ended < nchunks && !*s->stop) {
		struct net_req *q;

		/* two at a time: rampd hashes tokens on its side, one core each */
		while (ok && next < nchunks && inflight < 2 && (q = net_get(s->net)) != NULL) {
			struct chunk *c = &cs[next++];

			if (body_for(s, &q->body, c->from, c->to) != 0 ||
			    net_send(s->net, q, "POST", "/v1/devices", s->o.token, "application/json",
				     NULL, NULL, on_enrolled, c) != 0) {
				fprintf(stderr, "ramp-sim: could not send an enrollment request\n");
				ok = 0;
				c->done = 2;
				ended++;
				continue;
			}
			inflight++;
		}
		net_wait(s->net, 50);
		for (size_t i = 0; i < next; i++) {
			if (cs[i].done == 1) {
				cs[i].done = 2;
				ended++;
				inflight--;
				ok &= cs[i].ok;
			}
		}
		if (!ok && inflight == 0)
			break;
	}
	free(cs);
	for (size_t i = from; i < to; i++)
		if (s->devs[i].token == NULL)
			ok = 0;
	return ok ? 0 : -1;
}

static size_t platform_index(struct sim *s, const char *name)
{
	for (size_t i = 0; i < s->spec.nplatforms; i++)
		if (strcmp(s->spec.platforms[i].name, name) == 0)
			return i;
	if (s->spec.nplatforms == SPEC_MAX_PLATFORMS)
		return 0;
	snprintf(s->spec.platforms[s->spec.nplatforms].name, 64, "%.63s", name);
	s->spec.platforms[s->spec.nplatforms].weight = 0;
	return s->spec.nplatforms++;
}

long enroll_count(const char *path)
{
	FILE *f = fopen(path, "r");
	long n = 0;
	int c;

	if (f == NULL) {
		perror(path);
		return -1;
	}
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

int enroll_load(struct sim *s)
{
	FILE *f = fopen(s->o.tokens_in, "r");
	char line[1024], id[256], tok[512], plat[128];
	size_t n = 0;

	if (f == NULL) {
		perror(s->o.tokens_in);
		return -1;
	}
	while (fgets(line, sizeof(line), f) && n < s->ndevs) {
		struct device *d = &s->devs[n];

		plat[0] = '\0';
		if (sscanf(line, "%255s %511s %127s", id, tok, plat) < 2)
			continue;
		free(d->id);
		if ((d->id = strdup(id)) == NULL || (d->token = strdup(tok)) == NULL)
			break;
		d->platform = (uint8_t)platform_index(s, plat[0] ? plat : "unknown");
		n++;
	}
	fclose(f);
	for (size_t i = n; i < s->ndevs; i++) {
		free(s->devs[i].id);
		s->devs[i].id = NULL;
	}
	s->ndevs = n;
	s->o.devices = (long)n;
	s->o.late = 0;
	return n > 0 ? 0 : -1;
}

int enroll_save(struct sim *s)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", s->o.tokens_out);
	if ((f = fopen(tmp, "w")) == NULL) {
		perror(tmp);
		return -1;
	}
	for (size_t i = 0; i < s->nactive; i++) {
		const struct device *d = &s->devs[i];

		if (d->token)
			fprintf(f, "%s %s %s %s\n", d->id, d->token, s->spec.platforms[d->platform].name,
				d->etag[0] ? d->etag : "-");
	}
	if (fclose(f) != 0 || rename(tmp, s->o.tokens_out) != 0) {
		perror(s->o.tokens_out);
		unlink(tmp);
		return -1;
	}
	return 0;
}

static void on_token(struct net_req *q, void *ud)
{
	struct sim *s = ud;
	json_t *j = q->status == 201 ? json_loadb(q->resp.p, q->resp.len, 0, NULL) : NULL;
	const char *t = json_string_value(json_object_get(j, "token"));

	if (t)
		snprintf(s->ingest_tok, sizeof(s->ingest_tok), "%s", t);
	else
		fprintf(stderr, "ramp-sim: creating an ingest token: HTTP %ld %s%.300s\n", q->status,
			q->error, q->resp.p ? q->resp.p : "");
	json_decref(j);
}

int enroll_ingest_token(struct sim *s)
{
	struct net_req *q;

	if (s->o.ingest_token) {
		snprintf(s->ingest_tok, sizeof(s->ingest_tok), "%s", s->o.ingest_token);
		return 0;
	}
	net_drain(s->net, 60000);
	if ((q = net_get(s->net)) == NULL)
		return -1;
	buf_printf(&q->body, "{\"name\":\"sim-gw-%d-%llu\",\"role\":\"ingest\"}", (int)getpid(),
		    (unsigned long long)(sim_now_ms() % 1000000));
	if (net_send(s->net, q, "POST", "/v1/tokens", s->o.token, "application/json", NULL, NULL,
		     on_token, s) != 0)
		return -1;
	net_drain(s->net, 60000);
	return s->ingest_tok[0] ? 0 : -1;
}
