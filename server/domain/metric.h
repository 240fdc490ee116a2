/*
 * metric.h - the metric names a policy may gate on (API.md "Policies").
 *
 * Shared by the policy parser (which validates names and threshold units)
 * and the SLO math (which computes values). Values are in base units:
 * latencies and load times in milliseconds, rates as ratios in [0,1],
 * percentages (cpu, mem, npu) as 0..100, temperature in degrees C.
 */
#ifndef RAMP_METRIC_H
#define RAMP_METRIC_H

enum metric_id {
	METRIC_ERROR_RATE = 0,
	METRIC_LATENCY_P50,
	METRIC_LATENCY_P95,
	METRIC_LATENCY_P99,
	METRIC_REQUESTS_PER_SECOND,
	METRIC_MODEL_LOAD_TIME_MS,
	METRIC_INSTALL_FAILURE_RATE,
	METRIC_CONFIDENCE_MEAN,
	METRIC_CONFIDENCE_SHIFT,
	METRIC_CPU_PCT,
	METRIC_MEM_PCT,
	METRIC_TEMPERATURE_C,
	METRIC_DISK_FREE_MB,
	METRIC_NPU_PCT,
	/* shadow runs (docs/judge.md "Shadow runs"): gated only on shadow stages */
	METRIC_SHADOW_AGREEMENT,
	METRIC_SHADOW_MAD,
	METRIC_SHADOW_LATENCY_P95,
	METRIC_SHADOW_CONFIDENCE_SHIFT,
	METRIC_COUNT
};

/* How a threshold's unit suffix is read for this metric. */
enum metric_kind {
	METRIC_KIND_RATIO,   /* "0.5%" -> 0.005; a bare number is a ratio */
	METRIC_KIND_MILLIS,  /* "150ms", "1.5s" -> 1500; a bare number is ms */
	METRIC_KIND_PLAIN,   /* a bare number; "%" means percent points as-is */
	METRIC_KIND_PROM     /* a Prometheus query's value, in base units:
				"1%" -> 0.01, "250ms" -> 0.25 (seconds), bare as-is */
};

/* Returns the metric for name, or -1 when the name is unknown. */
int metric_from_name(const char *name);

/* Returns the API name of id; never NULL for a valid id. */
const char *metric_name(enum metric_id id);

/* True for the shadow_* metrics, which only a shadow stage may gate on. */
int metric_is_shadow(enum metric_id id);

/* Returns how thresholds for id are read. */
enum metric_kind metric_kind_of(enum metric_id id);

#endif
