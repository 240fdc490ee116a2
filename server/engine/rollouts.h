/*
 * rollouts.h - carries out the state machine's decisions: loads a rollout,
 * asks rollout_step() what happens next, computes the devices a stage
 * assigns, and writes the transition in one guarded transaction. Used by
 * the API (create, operator verbs) and by the evaluation loop.
 */
#ifndef RAMP_ROLLOUTS_H
#define RAMP_ROLLOUTS_H

#include "app.h"
#include "common/err.h"
#include "domain/policy.h"
#include "domain/rollout.h"

#include <jansson.h>

/* Starts a rollout of (model, version) under p; *id on success. */
int rollouts_create(struct app *app, const char *actor, const char *model,
		    const char *version, const char *policy_name, const struct policy *p,
		    const char *selector, int64_t *id, struct ramp_err *err);
/* Applies an operator verb; RAMP_ECONFLICT when not allowed now, RAMP_ENOTFOUND. */
int rollouts_command(struct app *app, int64_t id, enum rollout_cmd cmd, const char *actor,
		     struct ramp_err *err);
/* One evaluation of one rollout at now (the leader's loop calls this). */
int rollouts_evaluate(struct app *app, int64_t id, int64_t now);
/* How many times a rollout's sets were read whole (for /metrics). */
uint64_t rollouts_set_loads(void);

/* Rollbacks that respect maintenance windows and whose window opened:
 * their devices go back now (docs/windows.md). Leader only, each tick. */
void rollouts_windows_tick(struct app *app, int64_t now);

/* Milliseconds until the earliest window opening that held devices or a
 * waiting rollback wait for (0: due), -1 when nothing waits. */
int64_t rollouts_next_opening_ms(struct app *app);

#endif
