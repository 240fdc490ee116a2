/*
 * store_dash.h - read-only queries behind the dashboard: a rollout's
 * analysis history (rollout_analysis_history, filled by a trigger, see
 * schema/005_analysis_history.sql) and the fleet summary (devices by
 * platform, by model version and install state, by last contact).
 * Same conventions as store.h: 0 or a negative RAMP_E* code; json_t
 * out-parameters belong to the caller.
 */
#ifndef RAMP_STORE_DASH_H
#define RAMP_STORE_DASH_H

#include "store/db.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define STORE_HISTORY_MAX 2000

/* The last limit (1..STORE_HISTORY_MAX) evaluations of metric for rollout id,
 * oldest first: [{"at","stage","arm","value","baseline","result","samples"}].
 * RAMP_ENOTFOUND when there is no such rollout. */
int store_analysis_history(struct db *db, int64_t id, const char *metric, int limit,
			   json_t **items);

/* Whether rollout id's policy names metric among its stages' metrics (a
 * metric of its own, read from Prometheus): 0 with *yes, RAMP_ENOTFOUND
 * when there is no such rollout. */
int store_rollout_names_metric(struct db *db, int64_t id, const char *metric, bool *yes);

/* {"devices": n, "platforms": {p: n}, "models": [{"model","version","state","devices"}],
 *  "last_seen": {"5m": n, "1h": n, "24h": n, "older": n, "never": n}}. */
int store_fleet_summary(struct db *db, json_t **out);

#endif
