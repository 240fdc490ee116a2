/*
 * route.c - route matching (route.h). Runs on the MHD threads before any
 * credential is looked at; allocates only the parameters, from the
 * request's arena.
 */
#include "http/route.h"

#include <string.h>

bool http_route_match(const char *pattern, const char *path, struct arena *a,
		      const char *params[HTTP_MAX_PARAMS], int *nparams)
{
	const char *p = pattern, *s = path;
	int n = 0;

	while (*p && *s) {
		if (p[0] == '{' && p[1] == '}') {
			const char *end = strchr(s, '/');
			size_t len = end ? (size_t)(end - s) : strlen(s);
			if (len == 0 || n >= HTTP_MAX_PARAMS)
				return false;
			params[n++] = arena_strndup(a, s, len);
			p += 2;
			s += len;
			continue;
		}
		if (*p != *s)
			return false;
		p++;
		s++;
	}
	if (*p || *s)
		return false;
	*nparams = n;
	return true;
}

int http_route_find(const struct route *table, struct req *r, bool *path_known)
{
	*path_known = false;
	for (int i = 0; table[i].method; i++) {
		if (!http_route_match(table[i].pattern, r->path, r->arena, r->params, &r->nparams))
			continue;
		*path_known = true;
		if (strcmp(table[i].method, r->method) == 0 ||
		    (strcmp(r->method, "HEAD") == 0 && strcmp(table[i].method, "GET") == 0))
			return i;
	}
	return -1;
}
