/*
 * fuzz_telemetry.c - arbitrary bytes through jansson, telemetry_parse() and
 * the SLO arm. Each valid report is added to a canary arm, and to a baseline
 * arm once more with its confidence histogram, so that every metric,
 * confidence_shift included, is computed over arms and per device. Nothing
 * may crash, leak or hit undefined behaviour; values must be NaN or sane.
 */
#include <assert.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "domain/slo.h"
#include "domain/telemetry.h"

#define FUZZ_NOW 1767000100.0

static void check_value(struct slo_value v)
{
	assert(v.samples >= 0 && v.devices >= 0);
	assert(isnan(v.value) || v.samples > 0);
}

static void device_fn(void *ctx, const char *id, struct slo_value v)
{
	(void)ctx;
	assert(id != NULL && id[0] != '\0');
	check_value(v);
}

static void evaluate(const struct slo_arm *can, const struct slo_arm *base)
{
	for (int m = 0; m < METRIC_COUNT; m++) {
		check_value(slo_arm_value(can, (enum metric_id)m, 60, base));
		check_value(slo_arm_value(base, (enum metric_id)m, 0, NULL));
		slo_arm_each_device_vs(can, (enum metric_id)m, 60, base,
				       device_fn, NULL);
		slo_arm_each_device(base, (enum metric_id)m, -1, device_fn,
				    NULL);
	}
}

/* One report, or an array / {"reports": [...]} of them, as the API takes. */
static void feed(const json_t *j, struct slo_arm *can, struct slo_arm *base)
{
	struct telemetry_report r;
	struct ramp_err err;
	const json_t *list = json_object_get(j, "reports");
	size_t i;
	const json_t *item;

	if (json_is_object(j) && !json_is_array(list)) {
		if (telemetry_parse(j, FUZZ_NOW, &r, &err) == 0) {
			assert(r.lat_nbounds < TELEMETRY_HIST_MAX);
			slo_arm_add(can, &r);
			slo_arm_add(base, &r);
			slo_arm_add_install(can, r.device_id, r.errors > 0);
		} else {
			assert(err.code == RAMP_EINVAL && err.msg[0] != '\0');
		}
		return;
	}
	json_array_foreach(json_is_array(j) ? j : list, i, item)
		if (json_is_object(item))
			feed(item, can, base);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t je;
	json_t *j = json_loadb((const char *)data, size, JSON_ALLOW_NUL, &je);
	struct slo_arm *can, *base;

	if (j == NULL)
		return 0;
	can = slo_arm_new();
	base = slo_arm_new();
	if (can != NULL && base != NULL) {
		feed(j, can, base);
		evaluate(can, base);
	}
	slo_arm_free(can);
	slo_arm_free(base);
	json_decref(j);
	return 0;
}
