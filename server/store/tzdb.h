/*
 * tzdb.h - the system tz database (/usr/share/zoneinfo, or $TZDIR), read
 * once per zone and kept for the life of the process: the resolver that
 * maintenance windows (domain/window.h) are evaluated with. Thread-safe;
 * never touches the process's TZ or localtime.
 */
#ifndef RAMP_TZDB_H
#define RAMP_TZDB_H

#include "domain/policy.h"
#include "domain/tzif.h"
#include "domain/window.h"

#include <stdbool.h>

/* The tz database's directory: $TZDIR, else /usr/share/zoneinfo. */
const char *tzdb_dir(void);

/* Whether the tz database is there (its UTC file is). */
bool tzdb_present(void);

/* Logs a warning at start when the tz database is missing. */
void tzdb_startup_check(void);

/* The zone named name, parsed and cached; NULL when there is no such
 * zone (or its file does not parse). "UTC" and "" are UTC. */
const struct tz_zone *tzdb_zone(const char *name);

/* tzdb_zone as a window_zone_fn (ctx unused). */
const struct tz_zone *tzdb_resolve(void *ctx, const char *name);

/* 0 when every zone that l names exists; else RAMP_EINVAL naming it in err
 * (field path+"[i]"). */
int tzdb_check(const struct window_list *l, const char *path, struct ramp_err *err);

/* tzdb_check over every stage of p ("stages[i].windows[j]"). */
int tzdb_check_policy(const struct policy *p, struct ramp_err *err);

#endif
