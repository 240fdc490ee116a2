/*
 * rollout_windows.h - maintenance windows as the executor applies them
 * (rollout_windows.c): inside the engine only.
 */
#ifndef RAMP_ROLLOUT_WINDOWS_H
#define RAMP_ROLLOUT_WINDOWS_H

#include "app.h"
#include "domain/policy.h"

#include <stdint.h>

/* The next window of stage k at now: 0 and *open > now when closed, 0 and
 * *open <= now when open; RAMP_ENOTFOUND when the stage has none (or its
 * zone vanished from the system: then nobody waits). */
int rollout_stage_window(const struct policy *p, int k, int64_t now, int64_t *open);

/* Releases rollout id's held devices when stage's window is open; while it
 * is closed, tells them its next opening. */
void rollout_window_release(struct app *app, int64_t id, const struct policy *p, int stage,
			    int64_t now);

#endif
