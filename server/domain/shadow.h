/*
 * shadow.h - the shadow gates' arithmetic (docs/judge.md "Shadow runs"):
 * one stage's shadow reports from its canary devices, accumulated, and the
 * four shadow_* metrics over them. Pure: the engine feeds reports whose
 * shadow run is of the rollout's version; no clock, no I/O.
 *
 *   shadow_agreement        Σagree / Σrequests (reports that carry agree)
 *   shadow_mad              requests-weighted mean of the reports' mad
 *   shadow_confidence_shift requests-weighted mean of their confidence_shift
 *   shadow_latency_p95      requests-weighted mean of their own p95 (ms)
 *
 * samples is the Σrequests behind the value, devices the devices that
 * contributed to it; a metric without data is NaN with 0 samples.
 */
#ifndef RAMP_SHADOW_H
#define RAMP_SHADOW_H

#include "domain/metric.h"
#include "domain/slo.h"
#include "domain/telemetry.h"

struct shadow_arm;

/* A new, empty arm, or NULL when out of memory; shadow_arm_free(NULL) is a no-op. */
struct shadow_arm *shadow_arm_new(void);
void shadow_arm_free(struct shadow_arm *a);

/* Adds r's shadow run (nothing when it has none or ran on no request).
 * 0, or RAMP_ENOMEM with a as it was. */
int shadow_arm_add(struct shadow_arm *a, const struct telemetry_report *r);

/* Metric m (a shadow_* one; anything else is NaN) over a. */
struct slo_value shadow_arm_value(const struct shadow_arm *a, enum metric_id m);

#endif
