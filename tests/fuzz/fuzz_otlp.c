/*
 * fuzz_otlp.c - arbitrary bytes through the OTLP metrics decoders: as a
 * protobuf ExportMetricsServiceRequest (protobuf-c's generated code, then
 * the walk and the mapping), as OTLP JSON, and as the stream state text.
 * Every point kept goes through otlp_delta() against the previous one and
 * every batch is folded into reports, which must be what the telemetry
 * table takes. Nothing may crash, leak or hit undefined behaviour.
 */
#include <assert.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "domain/otlp.h"

#define FUZZ_NOW 1790000000.0

static int check_report(void *ctx, const struct telemetry_report *r)
{
	(void)ctx;
	assert(r->device_id[0] != '\0' && r->model[0] != '\0' && r->version[0] != '\0');
	assert(r->requests >= 0 && r->requests <= TELEMETRY_INT_MAX);
	assert(r->errors >= 0 && r->errors <= r->requests);
	assert(r->lat_nbounds < TELEMETRY_HIST_MAX && r->conf_nbounds < TELEMETRY_HIST_MAX);
	for (size_t i = 0; i < r->lat_nbounds; i++)
		assert(r->lat_bounds[i] > 0 && (i == 0 || r->lat_bounds[i] > r->lat_bounds[i - 1]));
	for (size_t i = 0; i < r->conf_nbounds; i++)
		assert(r->conf_bounds[i] >= 0 && r->conf_bounds[i] <= 1);
	assert(isnan(r->cpu_pct) || (r->cpu_pct >= 0 && r->cpu_pct <= 100));
	return 0;
}

static void exercise(struct otlp_batch *b)
{
	struct otlp_state st, next;
	struct otlp_point *d = malloc(sizeof(*d) * (b->n ? b->n : 1));
	size_t nd = 0;
	bool have = false;
	char text[OTLP_STATE_TEXT_MAX];

	assert(d != NULL);
	for (size_t i = 0; i < b->n; i++) {
		assert(b->pts[i].group < b->ngroups);
		if (!b->pts[i].cumulative) {
			d[nd++] = b->pts[i];
			continue;
		}
		enum otlp_verdict v = otlp_delta(have ? &st : NULL, &b->pts[i], 3600, &d[nd], &next);
		if (otlp_verdict_counts(v))
			nd++;
		otlp_state_format(&next, text);
		assert(otlp_state_parse(text, &st) == 0);
		have = true;
	}
	assert(otlp_reports(b, d, nd, check_report, NULL) == 0);
	free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct otlp_batch b;
	struct ramp_err err;
	struct otlp_state st;
	json_t *j;
	char *text;

	otlp_batch_init(&b, FUZZ_NOW);
	if (otlp_decode_pb(data, size, &b, &err) == 0)
		exercise(&b);
	else
		assert(b.n == 0 || err.code == RAMP_ETOOBIG);
	otlp_batch_free(&b);

	j = json_loadb((const char *)data, size, 0, NULL);
	if (j != NULL) {
		otlp_batch_init(&b, FUZZ_NOW);
		if (otlp_decode_json(j, &b, &err) == 0)
			exercise(&b);
		otlp_batch_free(&b);
		json_decref(j);
	}

	if ((text = malloc(size + 1)) != NULL) {
		memcpy(text, data, size);
		text[size] = '\0';
		(void)otlp_state_parse(text, &st);
		free(text);
	}
	return 0;
}
