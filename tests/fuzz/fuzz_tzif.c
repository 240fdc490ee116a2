/*
 * fuzz_tzif.c - libFuzzer target for the TZif parser and window specs:
 * arbitrary bytes must parse or fail cleanly with a reason; a zone that
 * parses answers offsets and first-local-time queries at any instant
 * without crashing; the bytes as a window spec parse or are refused.
 */
#include "domain/tzif.h"
#include "domain/window.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const struct tz_zone *fz;

static const struct tz_zone *resolve(void *ctx, const char *name)
{
	(void)ctx;
	(void)name;
	return fz;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tz_zone *z = NULL;
	struct ramp_err err;
	char spec[128];
	int rc = tz_parse(data, size, &z, &err);

	if (rc != 0) {
		if (z != NULL || err.msg[0] == '\0')
			abort();
	} else {
		static const int64_t at[] = {INT64_MIN / 2, -1, 0, 1774746000, 4109878800,
					     INT64_MAX / 4};
		struct window_list l = {.n = 1};
		int64_t o, c;
		for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
			int32_t off = tz_offset_at(z, at[i], NULL);
			if (off < -25 * 3600 || off > 26 * 3600)
				abort();
			(void)tz_first_local(z, at[i], at[i] + 3600);
		}
		fz = z;
		if (window_parse("Mon-Fri 02:00-04:00 Some/Zone", &l.w[0], &err) != 0)
			abort();
		(void)window_next(&l, resolve, NULL, 1774746000, &o, &c);
		tz_zone_free(z);
	}
	if (size < sizeof(spec)) {
		struct window w;
		memcpy(spec, data, size);
		spec[size] = '\0';
		if (window_parse(spec, &w, &err) != 0 && err.msg[0] == '\0')
			abort();
		{
			struct tz_posix p;
			(void)tz_posix_parse(spec, &p);
		}
	}
	return 0;
}
