/*
 * store_variants.h - the platform (variant) of every device, for the
 * per-variant analysis (docs/judge.md "Verdicts per variant").
 */
#ifndef RAMP_STORE_VARIANTS_H
#define RAMP_STORE_VARIANTS_H

#include "store/db.h"

/* Called once per device; the strings live until it returns. */
typedef int (*store_platform_fn)(void *ctx, const char *device_id, const char *platform);

/* Calls fn for every device with its platform. 0, a RAMP_E* code, or fn's
 * non-zero result (which stops the walk). */
int store_device_platforms(struct db *db, store_platform_fn fn, void *ctx);

#endif
