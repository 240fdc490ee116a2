/*
 * fuzz_route.c - libFuzzer target over http_route_match(): the input is a
 * pattern and a path split at the first newline (no newline: the path,
 * tried against a few patterns of the route table's shape). Invariants on
 * a match: every "{}" took exactly one non-empty segment without a slash,
 * no more than HTTP_MAX_PARAMS of them, and putting the segments back into
 * the pattern gives the path again.
 */
#include "http/route.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const patterns[] = {
	"/v1/devices", "/v1/devices/{}", "/v1/rollouts/{}/stages/{}/approve",
	"/{}/controller/v1/{}/deploymentBase/{}", "/v1/{}/{}/{}/{}", "/v1/{}/{}/{}/{}/{}",
};

static void check_one(struct arena *a, const char *pattern, const char *path)
{
	const char *params[HTTP_MAX_PARAMS];
	size_t plen = strlen(path);
	int n = -1, holes = 0;
	char *back, *o;
	const char *p;

	if (!http_route_match(pattern, path, a, params, &n))
		return;
	for (p = pattern; (p = strstr(p, "{}")) != NULL; p += 2)
		holes++;
	if (n != holes || n > HTTP_MAX_PARAMS)
		abort();
	back = o = arena_alloc(a, plen + 1);
	if (back == NULL)
		return;
	holes = 0;
	for (p = pattern; *p;) {
		if (p[0] == '{' && p[1] == '}') {
			const char *seg = params[holes++];
			size_t len = strlen(seg);
			if (len == 0 || strchr(seg, '/') || (size_t)(o - back) + len > plen)
				abort();
			memcpy(o, seg, len);
			o += len;
			p += 2;
		} else {
			if ((size_t)(o - back) + 1 > plen)
				abort();
			*o++ = *p++;
		}
	}
	*o = '\0';
	if (strcmp(back, path) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena *a = arena_new();
	char *text, *nl;

	if (a == NULL)
		return 0;
	/* a NUL byte ends the text, as it ends a path libmicrohttpd decoded */
	text = arena_strndup(a, (const char *)data, size);
	if (text == NULL) {
		arena_free(a);
		return 0;
	}
	if ((nl = strchr(text, '\n')) != NULL) {
		*nl = '\0';
		check_one(a, text, nl + 1);
	} else {
		for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++)
			check_one(a, patterns[i], text);
	}
	arena_free(a);
	return 0;
}
