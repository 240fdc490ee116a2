/*
 * shadow.c - see shadow.h. Each device is remembered with the metrics it
 * contributed to (a bit each), so devices counts per metric.
 */
#include "domain/shadow.h"

#include "common/err.h"
#include "common/strmap.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#define NSHADOW 4

struct shadow_arm {
	double sum[NSHADOW];	/* Σagree, Σmad·n, Σp95·n, Σshift·n */
	int64_t n[NSHADOW];	/* Σrequests behind each */
	struct strmap *devices; /* id -> bit mask of the metrics it fed */
};

struct shadow_arm *shadow_arm_new(void)
{
	struct shadow_arm *a = calloc(1, sizeof(*a));

	if (a && (a->devices = strmap_new()) == NULL) {
		free(a);
		return NULL;
	}
	return a;
}

void shadow_arm_free(struct shadow_arm *a)
{
	if (a == NULL)
		return;
	strmap_free(a->devices);
	free(a);
}

static int slot(enum metric_id m)
{
	return metric_is_shadow(m) ? (int)(m - METRIC_SHADOW_AGREEMENT) : -1;
}

int shadow_arm_add(struct shadow_arm *a, const struct telemetry_report *r)
{
	double n = (double)r->shadow_requests;
	/* in the order of the metrics (metric.h) */
	double v[NSHADOW] = {(double)r->shadow_agree, r->shadow_mad, r->shadow_latency_p95_ms,
			     r->shadow_conf_shift};
	uintptr_t mask = (uintptr_t)strmap_get(a->devices, r->device_id), add = 0;

	if (r->shadow_version[0] == '\0' || r->shadow_requests <= 0)
		return 0;
	for (int i = 0; i < NSHADOW; i++)
		if (i == 0 ? r->shadow_agree >= 0 : !isnan(v[i]))
			add |= (uintptr_t)1 << i;
	if ((mask | add) != mask && strmap_set(a->devices, r->device_id, (void *)(mask | add)))
		return RAMP_ENOMEM;
	for (int i = 0; i < NSHADOW; i++) {
		if (!(add & ((uintptr_t)1 << i)))
			continue;
		a->sum[i] += i == 0 ? v[0] : v[i] * n;
		a->n[i] += r->shadow_requests;
	}
	return 0;
}

struct count_ctx {
	uintptr_t bit;
	int64_t n;
};

static void count(void *ctx, const char *key, void *val)
{
	struct count_ctx *c = ctx;

	(void)key;
	c->n += ((uintptr_t)val & c->bit) != 0;
}

struct slo_value shadow_arm_value(const struct shadow_arm *a, enum metric_id m)
{
	struct slo_value v = {NAN, 0, 0};
	int i = slot(m);
	struct count_ctx c;

	if (a == NULL || i < 0 || a->n[i] == 0)
		return v;
	c.bit = (uintptr_t)1 << i;
	c.n = 0;
	strmap_each(a->devices, count, &c);
	v.value = a->sum[i] / (double)a->n[i];
	v.samples = a->n[i];
	v.devices = c.n;
	return v;
}
