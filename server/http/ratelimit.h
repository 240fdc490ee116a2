/*
 * ratelimit.h - per-token request rates: a token bucket for each token
 * (keyed by the token's name, so "device:<id>" for every credential of a
 * device), with a rate and a burst per role (RAMP_RATE_<ROLE>). A request
 * over the rate is answered 429 with Retry-After by the HTTP core.
 *
 * The cost per request is one hash and one uncontended lock of a stripe
 * out of many: there is no global lock on the poll path.
 */
#ifndef RAMP_RATELIMIT_H
#define RAMP_RATELIMIT_H

#include "config.h"

#include <stdint.h>

#define RATELIMIT_ROLES ROLE_COUNT /* auth/roles.h, via config.h */

/* Takes the per-role settings (per_s 0: unlimited). */
void ratelimit_init(const struct config_rate rates[RATELIMIT_ROLES]);
/* Frees every bucket. */
void ratelimit_shutdown(void);
/* Takes one request from key's bucket (role_index = bit index of ROLE_*):
 * 0 when allowed, else the whole seconds (>= 1) until one is. */
int ratelimit_take(int role_index, const char *key, int64_t now_ns);
/* Requests refused so far, by role index. */
void ratelimit_refused(uint64_t out[RATELIMIT_ROLES]);
/* The settings in force for a role. */
struct config_rate ratelimit_setting(int role_index);

#endif
