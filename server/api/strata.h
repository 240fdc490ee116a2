/*
 * strata.h - stratified canaries as the API shows them (docs/strata.md).
 */
#ifndef RAMP_API_STRATA_H
#define RAMP_API_STRATA_H

#include "api/api.h"

#include <jansson.h>
#include <stdint.h>

/* Adds "strata" to rollout id's JSON (out, as the store shows it): for the
 * stratified stage in force (the last one up to the current stage with
 * stratify_by), per stratum of the current stage's target set how many
 * devices are eligible and how many the canary holds; null when no stage
 * so far is stratified. 0 or a RAMP_E* code. */
int api_rollout_strata(struct req *r, int64_t id, json_t *out);

#endif
