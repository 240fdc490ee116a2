/*
 * selector_int.h - the inside of struct selector, shared by selector.c
 * (which builds it) and selector_match.c (which reads it). Not for use
 * outside server/domain/selector*.c.
 *
 * Every slot starts zeroed and counts what it owns; once selector_parse()
 * has returned it, a selector is never changed.
 */
#ifndef RAMP_SELECTOR_INT_H
#define RAMP_SELECTOR_INT_H

#include "domain/selector.h"

#include <stdbool.h>
#include <stddef.h>

struct selector {
	size_t n;
	struct selector_req req[SELECTOR_MAX_REQS];
	char *key[SELECTOR_MAX_REQS];
	char **val[SELECTOR_MAX_REQS];   /* SELECTOR_MAX_VALUES slots each */
	char *num[SELECTOR_MAX_REQS];    /* number text as written */
};

static inline bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f';
}

#endif
