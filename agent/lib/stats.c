/*
 * stats.c - lock-free request counters and their telemetry report (stats.h).
 *
 * A take exchanges each counter on its own, so it can see a request's error
 * while an earlier take already counted that request; the excess errors are
 * put back for the next take, so no report has more errors than requests and
 * none is lost.
 */
#include "stats.h"

#include <math.h>
#include <string.h>

const double stats_lat_bounds_ms[STATS_LAT_NB] = {0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000};

void stats_init(struct stats *s)
{
	memset(s, 0, sizeof(*s));
	atomic_flag_clear(&s->conf_lock);
}

void stats_observe(struct stats *s, double latency_ms, int error, double confidence)
{
	size_t b = 0;

	atomic_fetch_add(&s->requests, 1);
	if (error)
		atomic_fetch_add(&s->errors, 1);
	while (b < STATS_LAT_NB && latency_ms > stats_lat_bounds_ms[b])
		b++;
	atomic_fetch_add(&s->lat[b], 1);
	atomic_fetch_add(&s->lat_sum_us, (unsigned long long)(latency_ms * 1000.0));
	if (isnan(confidence))
		return;
	if (confidence < 0)
		confidence = 0;
	if (confidence > 1)
		confidence = 1;
	b = 0;
	while (b < STATS_CONF_NB && confidence > 0.1 * (double)(b + 1) + 1e-9)
		b++;
	atomic_fetch_add(&s->conf[b], 1);
	while (atomic_flag_test_and_set(&s->conf_lock))
		;
	s->conf_sum += confidence;
	s->conf_n++;
	atomic_flag_clear(&s->conf_lock);
}

static json_t *hist(const char *bkey, const double *bounds, size_t nb, atomic_ullong *counts,
		    unsigned long long *total)
{
	json_t *b = json_array(), *c = json_array();

	*total = 0;
	for (size_t i = 0; i < nb; i++)
		json_array_append_new(b, json_real(bounds[i]));
	for (size_t i = 0; i <= nb; i++) {
		unsigned long long v = atomic_exchange(&counts[i], 0);
		*total += v;
		json_array_append_new(c, json_integer((json_int_t)v));
	}
	return json_pack("{s:o, s:o}", bkey, b, "counts", c);
}

json_t *stats_take(struct stats *s, const char *label)
{
	static const double conf_bounds[STATS_CONF_NB] = {0.1, 0.2, 0.3, 0.4, 0.5,
							   0.6, 0.7, 0.8, 0.9};
	unsigned long long errors = atomic_exchange(&s->errors, 0);
	unsigned long long requests = atomic_exchange(&s->requests, 0);
	unsigned long long lat_us = atomic_exchange(&s->lat_sum_us, 0), nlat, nconf;

	if (errors > requests) {
		atomic_fetch_add(&s->errors, errors - requests);
		errors = requests;
	}
	json_t *r = json_pack("{s:s, s:I, s:I}", "model", label, "requests", (json_int_t)requests,
			      "errors", (json_int_t)errors);
	json_t *lh = hist("bounds_ms", stats_lat_bounds_ms, STATS_LAT_NB, s->lat, &nlat);
	json_t *ch = hist("bounds", conf_bounds, STATS_CONF_NB, s->conf, &nconf);
	double csum;
	unsigned long long cn;

	while (atomic_flag_test_and_set(&s->conf_lock))
		;
	csum = s->conf_sum;
	cn = s->conf_n;
	s->conf_sum = 0;
	s->conf_n = 0;
	atomic_flag_clear(&s->conf_lock);
	if (r == NULL) {
		json_decref(lh);
		json_decref(ch);
		return NULL;
	}
	if (nlat) {
		json_object_set_new(r, "latency_ms", json_real((double)lat_us / 1000.0 / (double)nlat));
		json_object_set_new(r, "latency_hist", lh);
	} else {
		json_decref(lh);
	}
	if (nconf) {
		json_object_set_new(r, "confidence_hist", ch);
		if (cn)
			json_object_set_new(r, "confidence_mean", json_real(csum / (double)cn));
	} else {
		json_decref(ch);
	}
	return r;
}
