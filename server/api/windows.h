/*
 * windows.h - maintenance windows as the API shows them (docs/windows.md).
 */
#ifndef RAMP_API_WINDOWS_H
#define RAMP_API_WINDOWS_H

#include "api/api.h"

#include <jansson.h>
#include <stdint.h>

/* Adds "windows" to rollout id's JSON (out, as the store shows it): the
 * current stage's windows, how many devices wait for one, when the next
 * opens. 0 or a RAMP_E* code. */
int api_rollout_windows(struct req *r, int64_t id, json_t *out);

#endif
