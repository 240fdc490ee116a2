/*
 * tzdb.c - zones from the tz database files, cached by name (tzdb.h). A
 * zone that does not exist is cached as missing too, so a bad name costs
 * one open(). The cache only grows: a zone is a few KiB and a fleet uses
 * a handful.
 */
#include "store/tzdb.h"

#include "common/log.h"
#include "common/strmap.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TZDB_MAX_FILE (256 * 1024)

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct strmap *zones; /* name -> struct tz_zone *, or &missing */
static const char missing;

const char *tzdb_dir(void)
{
	const char *dir = getenv("TZDIR");

	return dir && dir[0] ? dir : "/usr/share/zoneinfo";
}

bool tzdb_present(void)
{
	char path[512];
	struct stat st;

	/* the directory alone is not enough: an emptied one has no UTC file */
	snprintf(path, sizeof(path), "%s/UTC", tzdb_dir());
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

void tzdb_startup_check(void)
{
	if (!tzdb_present())
		log_warn("msg=\"the system tz database is missing: maintenance windows in a time zone"
			 " are refused (install tzdata)\" dir=%s", tzdb_dir());
}

static struct tz_zone *load(const char *name)
{
	char path[512];
	unsigned char *buf = malloc(TZDB_MAX_FILE);
	struct tz_zone *z = NULL;
	struct ramp_err err;
	FILE *f;
	size_t n;

	if (buf == NULL)
		return NULL;
	snprintf(path, sizeof(path), "%s/%s", tzdb_dir(), name);
	if ((f = fopen(path, "rb")) != NULL) {
		n = fread(buf, 1, TZDB_MAX_FILE, f);
		fclose(f);
		if (tz_parse(buf, n, &z, &err) != 0)
			log_warn("msg=\"time zone file does not parse\" zone=\"%s\" error=\"%s\"", name,
				 err.msg);
	}
	free(buf);
	return z;
}

const struct tz_zone *tzdb_zone(const char *name)
{
	struct window probe;
	const void *z;
	char spec[96];
	struct ramp_err err;

	if (name == NULL || name[0] == '\0' || strcmp(name, "UTC") == 0)
		return tz_utc();
	/* the same name check as a window spec: no path tricks reach fopen */
	snprintf(spec, sizeof(spec), "00:00-01:00 %s", name);
	if (strlen(name) > 63 || window_parse(spec, &probe, &err) != 0)
		return NULL;
	pthread_mutex_lock(&mu);
	if (zones == NULL)
		zones = strmap_new();
	z = zones ? strmap_get(zones, name) : NULL;
	if (zones && z == NULL) {
		struct tz_zone *got = load(name);
		z = got ? (const void *)got : (const void *)&missing;
		if (strmap_set(zones, name, (void *)z) != 0) {
			tz_zone_free(got);
			z = NULL;
		}
	}
	pthread_mutex_unlock(&mu);
	return z == &missing ? NULL : z;
}

const struct tz_zone *tzdb_resolve(void *ctx, const char *name)
{
	(void)ctx;
	return tzdb_zone(name);
}

int tzdb_check(const struct window_list *l, const char *path, struct ramp_err *err)
{
	for (size_t i = 0; i < l->n; i++)
		if (tzdb_zone(l->w[i].zone) == NULL) {
			if (tzdb_present())
				ramp_err_set(err, RAMP_EINVAL, path,
					     "unknown time zone \"%s\" (not in the system tz database)",
					     l->w[i].zone);
			else
				ramp_err_set(err, RAMP_EINVAL, path,
					     "unknown time zone \"%s\": the system tz database (%s) is"
					     " missing on this server; install tzdata",
					     l->w[i].zone, tzdb_dir());
			snprintf(err->field, sizeof(err->field), "%.100s[%zu]", path, i);
			return RAMP_EINVAL;
		}
	return 0;
}

int tzdb_check_policy(const struct policy *p, struct ramp_err *err)
{
	char path[48];

	for (size_t i = 0; i < p->nlabel_windows; i++) {
		char lpath[96];
		snprintf(lpath, sizeof(lpath), "label_windows.%s", p->label_windows[i].value);
		if (tzdb_check(&p->label_windows[i].windows, lpath, err) != 0)
			return RAMP_EINVAL;
	}
	for (size_t i = 0; i < p->nstages; i++) {
		snprintf(path, sizeof(path), "stages[%zu].windows", i);
		if (tzdb_check(&p->stages[i].windows, path, err) != 0)
			return RAMP_EINVAL;
	}
	return 0;
}
