/*
 * gen.c - simulated telemetry reports (gen.h).
 */
#include "gen.h"

#include <math.h>
#include <string.h>

static const double lat_bounds[] = {5,   10,  15,  20,  25,  30,  40,  50,  60,  80,  100,
				    125, 150, 200, 250, 300, 400, 500, 750, 1000, 2000};
#define NLAT (sizeof(lat_bounds) / sizeof(lat_bounds[0]))
#define NCONF 9 /* bounds 0.1 .. 0.9 */

void gen_defaults(struct gen_params *p)
{
	p->median_ms = 40;
	p->sigma = 0.35;
	p->error_rate = 0.002;
	p->conf_mean = 0.82;
	p->conf_sd = 0.08;
}

static double phi(double z)
{
	return 0.5 * erfc(-z / M_SQRT2);
}

void gen_split(const double *w, size_t n, int64_t total, int64_t *out)
{
	double sum = 0, rem[64];
	int64_t given = 0;

	for (size_t i = 0; i < n; i++)
		sum += w[i] > 0 ? w[i] : 0;
	for (size_t i = 0; i < n; i++) {
		double e = sum > 0 && w[i] > 0 ? (double)total * w[i] / sum : 0;

		out[i] = (int64_t)floor(e);
		rem[i] = e - (double)out[i];
		given += out[i];
	}
	if (sum <= 0 && n > 0) {
		out[n - 1] = total;
		return;
	}
	while (given < total) {
		size_t best = 0;

		for (size_t i = 1; i < n; i++)
			if (rem[i] > rem[best])
				best = i;
		out[best]++;
		rem[best] = -1;
		given++;
	}
}

static int append_hist(struct buf *b, const char *key, const double *bounds, size_t nb,
		       const int64_t *counts)
{
	int rc = buf_printf(b, ",\"%s\":{\"bounds%s\":[", key,
			     strcmp(key, "latency_hist") == 0 ? "_ms" : "");

	for (size_t i = 0; rc == 0 && i < nb; i++)
		rc = buf_printf(b, "%s%g", i ? "," : "", bounds[i]);
	rc |= buf_append(b, "],\"counts\":[", 12);
	for (size_t i = 0; rc == 0 && i <= nb; i++)
		rc = buf_printf(b, "%s%lld", i ? "," : "", (long long)counts[i]);
	return rc | buf_append(b, "]}", 2);
}

int gen_report(struct buf *b, const struct gen_params *p, const char *device_id,
	       const char *model, const char *version, double ts, int64_t requests, double speed,
	       const struct spec_fault *f, struct spec_rng *rng)
{
	double median = p->median_ms * speed * (f ? f->latency_x : 1);
	double err_rate = f && f->errors >= 0 ? f->errors : p->error_rate;
	double cmean = p->conf_mean - (f ? f->confidence_shift : 0);
	double w[NLAT + 1], prev = 0, expect_err;
	static const double conf_bounds[NCONF] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};
	int64_t counts[NLAT + 1], errors;
	int rc;

	for (size_t i = 0; i < NLAT; i++) {
		double c = phi((log(lat_bounds[i]) - log(median)) / p->sigma);

		w[i] = c - prev;
		prev = c;
	}
	w[NLAT] = 1 - prev;
	gen_split(w, NLAT + 1, requests, counts);
	expect_err = (double)requests * err_rate;
	errors = (int64_t)floor(expect_err + spec_rng_unit(rng));
	if (errors > requests)
		errors = requests;
	rc = buf_append(b, "{\"device_id\":", 13);
	rc |= buf_append_json_str(b, device_id);
	rc |= buf_printf(b,
			  ",\"model\":\"%s:%s\",\"timestamp\":%.3f,\"requests\":%lld,"
			  "\"errors\":%lld,\"latency_ms\":%.2f,\"cpu_pct\":%.1f,\"mem_pct\":%.1f",
			  model, version, ts, (long long)requests, (long long)errors,
			  median * exp(p->sigma * p->sigma / 2), 20 + 40 * spec_rng_unit(rng),
			  40 + 20 * spec_rng_unit(rng));
	rc |= append_hist(b, "latency_hist", lat_bounds, NLAT, counts);
	prev = 0;
	for (size_t i = 0; i < NCONF; i++) {
		double c = phi((conf_bounds[i] - cmean) / p->conf_sd);

		w[i] = c - prev;
		prev = c;
	}
	w[NCONF] = 1 - prev;
	gen_split(w, NCONF + 1, requests, counts);
	rc |= append_hist(b, "confidence_hist", conf_bounds, NCONF, counts);
	return rc | buf_append(b, "}", 1);
}
