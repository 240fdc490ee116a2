/*
 * window.h - maintenance windows, pure: a spec such as
 * "Mon-Fri 02:00-04:00 Europe/Berlin" or "Sat 22:00-02:00" parsed into a
 * struct, and the two questions the engine and the snapshot ask of a list
 * of them at an instant: is it open, and when does the next one open (and
 * close). Zones are handed in by a resolver (store/tzdb.c reads them from
 * the system tz database); nothing here reads a file or the clock.
 *
 * Semantics (docs/windows.md): a window belongs to the local date its
 * start falls on, and days name that date's weekday. It opens at the first
 * instant whose wall clock reads its start on an allowed day and closes at
 * the first instant after that whose wall clock reads its end (the next
 * day when end <= start: it crosses midnight). So a start inside a
 * spring-forward gap opens at the transition; a window wholly inside the
 * gap does not open that day; a window in an autumn overlap opens once, at
 * the first occurrence of its start. Without a zone a window is in UTC.
 */
#ifndef RAMP_WINDOW_H
#define RAMP_WINDOW_H

#include "common/err.h"
#include "domain/tzif.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WINDOW_MAX 8 /* windows in one list */

struct window {
	unsigned char days; /* bit 0 Monday ... bit 6 Sunday */
	int start_s, end_s;	/* seconds after local midnight; end 1..86400 */
	char zone[64];		/* "" or "UTC": UTC */
	char text[96];		/* as written */
};

struct window_list {
	size_t n;
	struct window w[WINDOW_MAX];
};

/* The zone named name, or NULL when there is none. */
typedef const struct tz_zone *(*window_zone_fn)(void *ctx, const char *name);

/* Parses spec into *out. 0, or RAMP_EINVAL with err->msg saying why (field ""). */
int window_parse(const char *spec, struct window *out, struct ramp_err *err);

/* A JSON array of specs (path names it in errors, e.g. "stages[0].windows"). */
int window_list_from_json(const json_t *arr, const char *path, struct window_list *out,
			  struct ramp_err *err);

/* The specs as written, a new JSON array (NULL when out of memory). */
json_t *window_list_to_json(const struct window_list *l);

bool window_list_equal(const struct window_list *a, const struct window_list *b);

/*
 * The first window interval [*open, *close) of l with close > t (windows
 * that overlap or touch are one interval): open <= t means t is inside.
 * 0; RAMP_ENOTFOUND when l opens no window in the next eight days (an
 * empty list); RAMP_EINVAL when a zone does not resolve.
 */
int window_next(const struct window_list *l, window_zone_fn zone, void *ctx, int64_t t,
		int64_t *open, int64_t *close);

/* Formats t as RFC 3339 UTC ("2026-03-29T01:00:00Z") into buf (>= 21 bytes). */
void window_rfc3339(int64_t t, char *buf, size_t len);

#endif
