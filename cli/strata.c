/*
 * strata.c - rampctl's view of a stratified canary (docs/strata.md): per
 * stratum of the stage's target set, how many devices the canary holds,
 * from the "strata" block of GET /v1/rollouts/{id}.
 */
#include "cmd.h"

#include <jansson.h>
#include <stdio.h>

#define STRATA_SHOWN 50 /* rows printed; the rest are summed up */

static void values_text(json_t *vals, char *buf, size_t len)
{
	const char *k;
	json_t *v;
	size_t off = 0;

	buf[0] = '\0';
	json_object_foreach(vals, k, v) {
		int n = snprintf(buf + off, len - off, "%s%s=%s", off ? " " : "", k,
				 json_is_string(v) ? json_string_value(v) : "(none)");
		if (n < 0 || (size_t)n >= len - off)
			return;
		off += (size_t)n;
	}
}

void print_strata(json_t *ro)
{
	json_t *s = json_object_get(ro, "strata"), *by, *list, *x;
	char vals[512];
	size_t i;

	if (!json_is_object(s))
		return;
	by = json_object_get(s, "by");
	list = json_object_get(s, "strata");
	printf("\nStrata (stage %s, at least %lld per stratum, by",
	       json_string_value(json_object_get(s, "stage")),
	       (long long)json_integer_value(json_object_get(s, "min_per_stratum")));
	json_array_foreach(by, i, x)
		printf("%s %s", i ? "," : "", json_string_value(x));
	printf("):\n");
	json_array_foreach(list, i, x) {
		if (i == STRATA_SHOWN) {
			printf("  ... %zu more\n", json_array_size(list) - i);
			break;
		}
		values_text(json_object_get(x, "values"), vals, sizeof(vals));
		printf("  %-48s canary %lld of %lld\n", vals,
		       (long long)json_integer_value(json_object_get(x, "canary")),
		       (long long)json_integer_value(json_object_get(x, "eligible")));
	}
	printf("  %zu strata, %lld short of their minimum\n", json_array_size(list),
	       (long long)json_integer_value(json_object_get(s, "short")));
}
