/*
 * gitops_int.h - what the reconciler's two files share: gitops.c (the
 * thread, fetching, the status) and gitops_apply.c (a commit into ramp,
 * the releases' rollouts, drift). The reconciler's thread alone touches
 * struct gitops, except the atomics.
 */
#ifndef RAMP_ENGINE_GITOPS_INT_H
#define RAMP_ENGINE_GITOPS_INT_H

#include "app.h"
#include "domain/gitops.h"
#include "engine/gitops_git.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct gitops {
	struct app *app;
	struct ticker *ticker;
	struct gitops_repo *repo;
	atomic_bool force, retry;
	char fetched[41], applied[41], refused[41];
	int64_t fetched_at, applied_at, sync_at, unreachable_since; /* unix s, 0: never */
	int64_t next_due_ms;
	int backoff_s;
	struct gitops_files files; /* the applied commit's, borrowed by state */
	struct gitops_state state;
	bool have_state;
	json_t *last_error; /* {commit, file, line, reason, at} or NULL */
	json_t *objects;    /* [{kind, name, file, state, health?, detail?}] */
};

/* Parses commit (error: err filled) into *st, *files (caller frees both). */
int gitops_read_commit(struct gitops *g, const char *commit, struct gitops_files *files,
		       struct gitops_state *st, struct gitops_err *err);
/* Writes st into ramp (keys, manifests, policies, cohorts, first stable
 * versions) after checking nothing conflicts. 0, or RAMP_E* with err. */
int gitops_apply(struct gitops *g, const struct gitops_state *st, struct gitops_err *err);
/* Each release's rollout started, aborted or left alone; managed objects
 * compared with ramp (drift, healed when RAMP_GITOPS_SELF_HEAL=1). Fills
 * g->objects anew. */
void gitops_reconcile(struct gitops *g);
/* The commit's signature checked against RAMP_GITOPS_ALLOWED_SIGNERS with
 * ssh-keygen -Y verify. 0, or RAMP_EFORBIDDEN with why. */
int gitops_check_signer(struct gitops *g, const char *commit, char *why, size_t whylen);

#endif
