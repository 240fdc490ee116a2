/*
 * authz.h - authentication and authorization of a request (authz.c).
 * Internal to server/http.
 */
#ifndef RAMP_HTTP_AUTHZ_H
#define RAMP_HTTP_AUTHZ_H

#include "http/http.h"

#include <stdbool.h>

/* Bearer token or client certificate -> r->auth, then the route's roles
 * and the token's rate limit. Replies 401/403/429/503 and returns false
 * when denied; returns false without a reply when an MHD thread deferred
 * the lookup to a worker (http_defer). */
bool http_authorize(struct req *r);

#endif
