/*
 * policy_parse.h - what the parsers of a policy's parts share (policy.c,
 * and the blocks in policy_judge.c, policy_strata.c, ...): reading a
 * member and naming the field of an error.
 */
#ifndef RAMP_DOMAIN_POLICY_PARSE_H
#define RAMP_DOMAIN_POLICY_PARSE_H

#include "common/err.h"

#include <jansson.h>

/* The member, or NULL when absent or null (null means "use the default"). */
const json_t *policy_member(const json_t *obj, const char *key);
/* RAMP_EINVAL with err's field "path.key" (or "key" at the root) and msg. */
int policy_fail(struct ramp_err *err, const char *path, const char *key, const char *msg);

#endif
