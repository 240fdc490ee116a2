/*
 * fuzz_telemetry_fast.c - the direct telemetry reader against the general
 * path. Whenever telemetry_read_fast() accepts a body, jansson (with the
 * handler's flags) must accept it too, find as many reports in the same
 * shape, and telemetry_parse() must accept each with byte-identical values.
 * Whatever the fast reader refuses goes the general way, so refusing more
 * is allowed; accepting more, or reading a value differently, is not.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "domain/telemetry.h"

#define FUZZ_NOW 1767000100.0
#define FUZZ_MAX 8

struct got {
	struct telemetry_report r[FUZZ_MAX];
	size_t n;
};

static int collect(void *ctx, size_t i, const struct telemetry_report *t)
{
	struct got *g = ctx;

	assert(i == g->n && i < FUZZ_MAX);
	memcpy(&g->r[g->n++], t, sizeof(*t)); /* padding too: compared by memcmp */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct got g;
	struct telemetry_report t, r;
	struct ramp_err err;
	json_error_t je;
	json_t *j, *list;
	size_t n;

	g.n = 0;
	n = telemetry_read_fast((const char *)data, size, FUZZ_NOW, FUZZ_MAX, &t, collect, &g);
	if (n == 0)
		return 0;
	assert(n == g.n);
	j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
	assert(j != NULL);
	list = json_is_object(j) ? json_object_get(j, "reports") : j;
	if (list == NULL) {
		assert(n == 1);
		list = j;
		assert(telemetry_parse(list, FUZZ_NOW, &r, &err) == 0);
		assert(memcmp(&r, &g.r[0], sizeof(r)) == 0);
	} else {
		assert(json_is_array(list) && json_array_size(list) == n);
		for (size_t i = 0; i < n; i++) {
			assert(telemetry_parse(json_array_get(list, i), FUZZ_NOW, &r, &err) == 0);
			assert(memcmp(&r, &g.r[i], sizeof(r)) == 0);
		}
	}
	json_decref(j);
	return 0;
}
