/*
 * fields.h - the one check for members of a JSON object that its reader
 * does not know. The manifest and policy parsers and the API's request
 * bodies all use it, so every "unknown field" is found and named the same
 * way. Pure: takes a tree, fills a ramp_err.
 */
#ifndef RAMP_FIELDS_H
#define RAMP_FIELDS_H

#include "common/err.h"

#include <jansson.h>

/* 0 when every member of obj is in allowed (NULL-terminated), else
 * RAMP_EINVAL with err naming the first other member, "prefix.key" ("key"
 * when prefix is NULL or empty), and the message "unknown field". A key
 * with an embedded NUL matches no allowed name. */
int fields_check(const json_t *obj, const char *const allowed[], const char *prefix,
		 struct ramp_err *err);

#endif
