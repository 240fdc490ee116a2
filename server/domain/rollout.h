/*
 * rollout.h - the rollout state machine (API.md "Rollouts"), pure: it takes
 * the persisted state, one command (an evaluation tick or an operator verb)
 * and the analysis of the current stage, and returns the next state plus the
 * actions the engine must carry out (assign devices, revert, set stable,
 * record events). The engine persists both in one transaction. The diagram
 * of every state and transition is at the head of rollout.c.
 */
#ifndef RAMP_ROLLOUT_H
#define RAMP_ROLLOUT_H

#include "common/err.h"
#include "domain/policy.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Inconclusive windows an "extend" policy retries before pausing. */
#define ROLLOUT_MAX_EXTENSIONS 3

enum rollout_phase {
	ROLLOUT_PROGRESSING,
	ROLLOUT_PAUSED,
	ROLLOUT_AWAITING_APPROVAL,
	ROLLOUT_SUCCEEDED,   /* terminal */
	ROLLOUT_ROLLED_BACK, /* terminal */
	ROLLOUT_ABORTED      /* terminal */
};

struct rollout_state {
	enum rollout_phase phase;
	int stage; /* index into the policy's stages */
	int64_t stage_started_at;
	int64_t window_ends_at;
	int failing; /* consecutive failing evaluations */
	int64_t paused_at; /* 0 unless paused */
	int inconclusive_extensions;
};

enum rollout_verdict { VERDICT_PASS, VERDICT_FAIL, VERDICT_INCONCLUSIVE };

struct rollout_analysis {
	bool evaluated;	  /* false: nothing to decide on */
	bool enough_data; /* min_devices and min_samples met */
	enum rollout_verdict verdict; /* FAIL if any metric fails, else
					 INCONCLUSIVE if any is, else PASS */
	char detail[256]; /* e.g. "error_rate 0.031 >= 0.005" */
	bool give_up; /* a provider's query failed consecutive_error_limit
			 times in a row: inconclusive now, not at the window's end */
	bool early_pass; /* every gate is a sequential error-rate or latency
			    judge and passed with min_devices and min_samples
			    met: a PASS counts before the window's end */
};

enum rollout_cmd {
	CMD_EVALUATE,
	CMD_PAUSE,
	CMD_RESUME,
	CMD_APPROVE,
	CMD_PROMOTE,
	CMD_PROMOTE_FULL,
	CMD_ROLLBACK,
	CMD_ABORT
};

enum rollout_action_type {
	ACTION_ASSIGN_STAGE, /* stage: devices of stage k get the new version */
	ACTION_REVERT,	     /* every assigned device back to baseline */
	ACTION_SET_STABLE,   /* the version becomes the model's stable one */
	ACTION_EVENT	     /* record event with detail */
};

struct rollout_action {
	enum rollout_action_type type;
	int stage;
	char event[32]; /* created stage_started promoted breach inconclusive
			   awaiting_approval approved paused resumed rolled_back
			   aborted succeeded */
	char detail[256];
};

struct rollout_actions {
	size_t n;
	struct rollout_action a[16];
};

/*
 * State of a new rollout at now: stage 0 progressing, its window from the
 * policy; actions: event created, ASSIGN_STAGE 0, event stage_started.
 * p must be a parsed policy.
 */
void rollout_start(const struct policy *p, int64_t now,
		   struct rollout_state *out, struct rollout_actions *acts);

/*
 * One step from *cur: fills *next and *acts and returns 0. Returns
 * RAMP_ECONFLICT (next = cur, no actions) when cmd is not allowed in cur's
 * phase, RAMP_EINVAL for an unknown cmd, RAMP_EINTERNAL when *cur breaks
 * the invariants for p. An evaluation that changes nothing gives
 * *next == *cur and no actions. actor names who asked (NULL: "system");
 * a may be NULL for verbs.
 */
int rollout_step(const struct policy *p, const struct rollout_state *cur,
		 enum rollout_cmd cmd, const struct rollout_analysis *a,
		 int64_t now, const char *actor, struct rollout_state *next,
		 struct rollout_actions *acts, struct ramp_err *err);

/* True when s is a state rollout_step can produce for p (see rollout.c). */
bool rollout_check_invariants(const struct policy *p,
			      const struct rollout_state *s);

/* API name of a phase ("awaiting_approval"); "unknown" when out of range. */
const char *rollout_phase_name(enum rollout_phase phase);

/* The phase named name, or RAMP_EINVAL. */
int rollout_phase_from_name(const char *name);

/* True for succeeded, rolled_back and aborted. */
bool rollout_phase_is_terminal(enum rollout_phase phase);

#endif
