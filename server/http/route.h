/*
 * route.h - matching a request's method and path against the route table
 * (server/api/routes.c). Pure: strings in, an index and parameters out; the
 * gate runs it on the MHD threads before authentication, and
 * tests/fuzz/fuzz_route.c drives it without a network.
 */
#ifndef RAMP_ROUTE_H
#define RAMP_ROUTE_H

#include "http/http.h"

#include <stdbool.h>

/* True when path matches pattern, where "{}" stands for one non-empty
 * segment: each segment is copied from a into params (up to
 * HTTP_MAX_PARAMS; more is no match) and *nparams set. On no match params
 * may hold copies already and *nparams is left alone. */
bool http_route_match(const char *pattern, const char *path, struct arena *a,
		      const char *params[HTTP_MAX_PARAMS], int *nparams);
/* The index in table (ended by {NULL}) of the route for r->method and
 * r->path, a HEAD taking a GET route, with r's params set; -1 when none,
 * *path_known then telling whether another method has the path. */
int http_route_find(const struct route *table, struct req *r, bool *path_known);

#endif
