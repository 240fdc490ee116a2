/*
 * metric.c - the table of gateable metric names and their units.
 */
#include "domain/metric.h"

#include <string.h>

static const struct {
	const char *name;
	enum metric_kind kind;
} metrics[METRIC_COUNT] = {
	[METRIC_ERROR_RATE] = {"error_rate", METRIC_KIND_RATIO},
	[METRIC_LATENCY_P50] = {"inference_latency_p50", METRIC_KIND_MILLIS},
	[METRIC_LATENCY_P95] = {"inference_latency_p95", METRIC_KIND_MILLIS},
	[METRIC_LATENCY_P99] = {"inference_latency_p99", METRIC_KIND_MILLIS},
	[METRIC_REQUESTS_PER_SECOND] = {"requests_per_second", METRIC_KIND_PLAIN},
	[METRIC_MODEL_LOAD_TIME_MS] = {"model_load_time_ms", METRIC_KIND_MILLIS},
	[METRIC_INSTALL_FAILURE_RATE] = {"install_failure_rate", METRIC_KIND_RATIO},
	[METRIC_CONFIDENCE_MEAN] = {"confidence_mean", METRIC_KIND_PLAIN},
	[METRIC_CONFIDENCE_SHIFT] = {"confidence_shift", METRIC_KIND_PLAIN},
	[METRIC_CPU_PCT] = {"cpu_pct", METRIC_KIND_PLAIN},
	[METRIC_MEM_PCT] = {"mem_pct", METRIC_KIND_PLAIN},
	[METRIC_TEMPERATURE_C] = {"temperature_c", METRIC_KIND_PLAIN},
	[METRIC_DISK_FREE_MB] = {"disk_free_mb", METRIC_KIND_PLAIN},
	[METRIC_NPU_PCT] = {"npu_pct", METRIC_KIND_PLAIN},
	[METRIC_SHADOW_AGREEMENT] = {"shadow_agreement", METRIC_KIND_RATIO},
	[METRIC_SHADOW_MAD] = {"shadow_mad", METRIC_KIND_PLAIN},
	[METRIC_SHADOW_LATENCY_P95] = {"shadow_latency_p95", METRIC_KIND_MILLIS},
	[METRIC_SHADOW_CONFIDENCE_SHIFT] = {"shadow_confidence_shift", METRIC_KIND_PLAIN},
};

int metric_from_name(const char *name)
{
	if (name == NULL)
		return -1;
	for (int i = 0; i < METRIC_COUNT; i++)
		if (strcmp(metrics[i].name, name) == 0)
			return i;
	return -1;
}

const char *metric_name(enum metric_id id)
{
	if ((int)id < 0 || id >= METRIC_COUNT)
		return "unknown";
	return metrics[id].name;
}

enum metric_kind metric_kind_of(enum metric_id id)
{
	if ((int)id < 0 || id >= METRIC_COUNT)
		return METRIC_KIND_PLAIN;
	return metrics[id].kind;
}

int metric_is_shadow(enum metric_id id)
{
	return id >= METRIC_SHADOW_AGREEMENT && id <= METRIC_SHADOW_CONFIDENCE_SHIFT;
}
