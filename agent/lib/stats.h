/*
 * stats.h - the counters an agent reports as telemetry for one model
 * version: requests, errors, a latency histogram and a confidence histogram
 * (API.md "Telemetry").
 *
 * Serving threads add to a struct stats with atomics only (no lock on the
 * request path); the telemetry thread takes what accumulated since the last
 * report and turns it into one report object.
 */
#ifndef RAMP_AGENT_STATS_H
#define RAMP_AGENT_STATS_H

#include <jansson.h>
#include <stdatomic.h>

#define STATS_LAT_NB 11	 /* latency bounds, in ms */
#define STATS_CONF_NB 9	 /* confidence bounds 0.1 .. 0.9 */

extern const double stats_lat_bounds_ms[STATS_LAT_NB];

struct stats {
	atomic_ullong requests, errors, lat_sum_us, conf_n;
	atomic_ullong lat[STATS_LAT_NB + 1];
	atomic_ullong conf[STATS_CONF_NB + 1];
	double conf_sum; /* guarded by conf_lock: not on a hot path worth a CAS loop */
	atomic_flag conf_lock;
};

/* Zeroes s (also fine on memory from calloc). */
void stats_init(struct stats *s);

/*
 * Counts one answered request: its latency in ms, whether it was an error,
 * and the confidence of its top class (NAN when the answer has none).
 * Safe from any number of threads.
 */
void stats_observe(struct stats *s, double latency_ms, int error, double confidence);

/*
 * Takes everything counted since the last take (zeroing it) and returns a
 * report {"model": label, "requests", "errors", "latency_ms", "latency_hist",
 * "confidence_hist", "confidence_mean"} (the latency and confidence fields
 * only when there is something to report), or NULL on out of memory.  Counts
 * taken are never reported twice, and errors never exceed requests (an
 * error whose request an earlier take counted waits for the next one).
 */
json_t *stats_take(struct stats *s, const char *label);

#endif
