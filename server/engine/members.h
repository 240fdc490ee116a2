/*
 * members.h - the devices a stratified stage takes (docs/strata.md): reads
 * the eligible devices with their stratify_by values from the store and
 * lets domain/strata.c choose. rollouts.c asks it for stages where
 * strata_wanted(); other stages keep the plain bucket prefix.
 */
#ifndef RAMP_MEMBERS_H
#define RAMP_MEMBERS_H

#include "app.h"
#include "common/strlist.h"
#include "domain/policy.h"
#include "domain/strata.h"
#include "store/store.h"

#include <stddef.h>

/* Stage k's members in bucket order: *ids (pointers into *all, which the
 * caller frees with strlist_free; *ids with free()), *n of them. 0 or RAMP_E*. */
int members_stratified(struct app *app, const struct rollout_row *row, const struct policy *p,
		       int k, struct strlist *all, const char ***ids, size_t *n);

#endif
