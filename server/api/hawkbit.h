/*
 * hawkbit.h - what the two halves of the hawkBit DDI surface share
 * (hawkbit.c: poll, deploymentBase, cancelAction; hawkbit_feedback.c:
 * feedback, configData, installedBase). Every DDI request starts with
 * hawkbit_begin(): tenant, controllerId and token checked, the device's
 * desired answer taken from the snapshot. docs/hawkbit.md has the mapping.
 */
#ifndef RAMP_API_HAWKBIT_H
#define RAMP_API_HAWKBIT_H

#include "api/api.h"

#include <stdint.h>

struct hawkbit_ctx {
	const char *tenant;  /* as the client spelled it (links repeat it) */
	const char *device;  /* the controllerId: a registered device id */
	json_t *models;      /* the desired "models" array (owned) */
	char etag[24];       /* the desired answer's ETag */
	const char *base;    /* "scheme://host[:port]" for links, in the arena */
};

/*
 * Checks the tenant (404), the controllerId (404) and that the token may
 * act for it: a device token only for its own device (401 when the
 * controllerId is not registered, 403 when it is another device), an
 * ingest or admin token for any. Loads the desired answer; an unknown
 * controllerId asked for by a gateway is enrolled when enroll is true
 * (404 otherwise). Replies and returns false when the request stops here;
 * on true the caller calls hawkbit_end().
 */
bool hawkbit_begin(struct req *r, struct hawkbit_ctx *h, bool enroll);
void hawkbit_end(struct hawkbit_ctx *h);

/* The desired entry for model (borrowed), or NULL. */
json_t *hawkbit_desired(const struct hawkbit_ctx *h, const char *model);

/* Reads the {actionId} path parameter idx and loads the action
 * ({"id","rollout_id","model","version"}, caller decrefs); replies 404 and
 * returns NULL when it is malformed or unknown. */
json_t *hawkbit_action(struct req *r, int idx);

/* True when action is the device's desired action for its model: the same
 * version from the same rollout (0 for none). */
bool hawkbit_is_desired(const struct hawkbit_ctx *h, const json_t *action);

/* "unavailable" while the device waits for its maintenance window for
 * model, "available" once its window has let it in, NULL without windows. */
const char *hawkbit_window(const struct hawkbit_ctx *h, const char *model);

#endif
