/*
 * gen.h - the telemetry a simulated device reports: request counts, errors,
 * a latency histogram from a log-normal distribution and a confidence
 * histogram from a normal one, shaped by the device's faults (spec.h).
 * Histogram counts are the distribution's expected counts rounded to
 * integers that sum exactly to `requests`, so metrics computed by rampd are
 * stable from one evaluation to the next and a fault's effect is exact.
 */
#ifndef RAMP_SIM_GEN_H
#define RAMP_SIM_GEN_H

#include "buf.h"
#include "spec.h"

#include <stdint.h>

struct gen_params {
	double median_ms;   /* latency median of a healthy device */
	double sigma;       /* log-normal shape */
	double error_rate;  /* healthy error rate */
	double conf_mean;   /* healthy mean confidence */
	double conf_sd;
};

/* The defaults: 40 ms median, sigma 0.35, 0.2% errors, confidence 0.82 +- 0.08. */
void gen_defaults(struct gen_params *p);

/*
 * Appends one report object (no separator) to b for device_id running
 * model:version, `requests` requests at unix time ts. speed scales the
 * latency of this device (1 = the fleet's median); f is the fault in
 * force or NULL. Returns 0 or -1 when b is full.
 */
int gen_report(struct buf *b, const struct gen_params *p, const char *device_id,
	       const char *model, const char *version, double ts, int64_t requests, double speed,
	       const struct spec_fault *f, struct spec_rng *rng);

/* Splits total into n integer counts proportional to the weights w (largest
 * remainder; the result sums exactly to total). */
void gen_split(const double *w, size_t n, int64_t total, int64_t *out);

#endif
