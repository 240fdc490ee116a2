/*
 * test_window.c - the TZif parser and the maintenance window evaluator:
 * daylight-saving edges in Europe/Berlin and America/New_York with exact
 * UTC instants (expected values computed independently with Python's
 * zoneinfo), windows crossing midnight, lists, the POSIX footer for
 * instants past the table, and bad specs refused with clear errors.
 */
#include "domain/tzif.h"
#include "domain/window.h"
#include "unit.h"

static struct tz_zone *zone_file(const char *name)
{
	static unsigned char buf[256 * 1024];
	char path[256];
	struct tz_zone *z = NULL;
	struct ramp_err err;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", name);
	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	return tz_parse(buf, n, &z, &err) == 0 ? z : NULL;
}

static const struct tz_zone *resolve(void *ctx, const char *name)
{
	static struct tz_zone *berlin, *ny;
	(void)ctx;
	if (strcmp(name, "Europe/Berlin") == 0)
		return berlin ? berlin : (berlin = zone_file(name));
	if (strcmp(name, "America/New_York") == 0)
		return ny ? ny : (ny = zone_file(name));
	return NULL;
}

/* The first interval of a single spec after t. */
static int next_of(const char *spec, int64_t t, int64_t *open, int64_t *close)
{
	struct window_list l = {.n = 1};
	struct ramp_err err;

	if (window_parse(spec, &l.w[0], &err) != 0)
		return -100;
	return window_next(&l, resolve, NULL, t, open, close);
}

static void tzif_offsets_match_the_table_and_the_footer(void)
{
	struct tz_zone *b = zone_file("Europe/Berlin"), *ny = zone_file("America/New_York");
	int64_t nx;

	CHECK(b != NULL && ny != NULL);
	if (!b || !ny)
		return;
	CHECK(b->has_footer);
	CHECK_EQ_INT(tz_offset_at(b, 1774746000 - 1, &nx), 3600);
	CHECK_EQ_INT(nx, 1774746000);
	CHECK_EQ_INT(tz_offset_at(b, 1774746000, NULL), 7200);
	/* 2100: far past any table, from "CET-1CEST,M3.5.0,M10.5.0/3" */
	CHECK_EQ_INT(tz_offset_at(b, 4109878799, &nx), 3600);
	CHECK_EQ_INT(nx, 4109878800);
	CHECK_EQ_INT(tz_offset_at(b, 4109878800, NULL), 7200);
	CHECK_EQ_INT(tz_offset_at(b, 4128627599, NULL), 7200);
	CHECK_EQ_INT(tz_offset_at(b, 4128627600, NULL), 3600);
	CHECK_EQ_INT(tz_offset_at(ny, 3802550400, NULL), -14400);
	CHECK_EQ_INT(tz_offset_at(ny, 1772953200 - 1, NULL), -18000);
	CHECK_EQ_INT(tz_offset_at(ny, 1772953200, NULL), -14400);
	tz_zone_free(b);
	tz_zone_free(ny);
}

static void tzif_refuses_garbage(void)
{
	static const unsigned char junk[] = "TZif2\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
	struct tz_zone *z = (struct tz_zone *)1;
	struct ramp_err err;

	CHECK_EQ_INT(tz_parse((const unsigned char *)"hello", 5, &z, &err), RAMP_EMALFORMED);
	CHECK(z == NULL);
	CHECK_EQ_INT(tz_parse(junk, sizeof(junk), &z, &err), RAMP_EMALFORMED);
	CHECK(err.msg[0] != '\0');
}

static void posix_strings_parse(void)
{
	struct tz_posix p;

	CHECK_EQ_INT(tz_posix_parse("CET-1CEST,M3.5.0,M10.5.0/3", &p), 0);
	CHECK_EQ_INT(p.std_off, 3600);
	CHECK_EQ_INT(p.dst_off, 7200);
	CHECK_EQ_INT(p.end.time, 10800);
	CHECK_EQ_INT(tz_posix_parse("<+0330>-3:30", &p), 0);
	CHECK_EQ_INT(p.std_off, 12600);
	CHECK_EQ_INT(tz_posix_parse("EST5EDT,M3.2.0,M11.1.0", &p), 0);
	CHECK_EQ_INT(p.std_off, -18000);
	CHECK_EQ_INT(tz_posix_parse("<-03>3<-02>,M3.5.0/-2,M10.5.0/-1", &p), 0);
	CHECK_EQ_INT(p.start.time, -7200);
	CHECK(tz_posix_parse("X1", &p) != 0);
	CHECK(tz_posix_parse("CET-1CEST,M13.5.0,M10.5.0", &p) != 0);
	CHECK(tz_posix_parse("CET-1CEST,M3.5.0", &p) != 0);
}

/* Berlin 2026-03-29: 02:00 CET jumps to 03:00 CEST at 01:00Z. */
static void berlin_spring_gap_start_opens_at_the_transition(void)
{
	int64_t o, c;

	CHECK_EQ_INT(next_of("Sun 02:30-04:00 Europe/Berlin", 1774699200, &o, &c), 0);
	CHECK_EQ_INT(o, 1774746000); /* 2026-03-29T01:00:00Z */
	CHECK_EQ_INT(c, 1774749600); /* 04:00 CEST = 02:00Z */
}

static void berlin_window_wholly_in_the_gap_skips_that_day(void)
{
	int64_t o, c;

	CHECK_EQ_INT(next_of("Sun 02:00-02:30 Europe/Berlin", 1774699200, &o, &c), 0);
	CHECK_EQ_INT(o, 1775347200); /* the next Sunday, 2026-04-05 02:00 CEST = 00:00Z */
	CHECK_EQ_INT(c, 1775347200 + 1800);
}

/* Berlin 2026-10-25: 03:00 CEST falls back to 02:00 CET at 01:00Z. */
static void berlin_autumn_overlap_opens_once(void)
{
	int64_t o, c;

	CHECK_EQ_INT(next_of("Sun 02:00-03:00 Europe/Berlin", 1792843200, &o, &c), 0);
	CHECK_EQ_INT(o, 1792886400); /* 02:00 CEST = 00:00Z */
	CHECK_EQ_INT(c, 1792893600); /* 03:00 CET = 02:00Z: one opening, two hours */
	CHECK_EQ_INT(next_of("Sun 02:15-02:45 Europe/Berlin", 1792843200, &o, &c), 0);
	CHECK_EQ_INT(o, 1792887300); /* the first 02:15 (CEST) = 00:15Z */
	CHECK_EQ_INT(c, 1792889100); /* 00:45Z */
	/* the repeated 02:15 CET (01:15Z) does not open it again */
	CHECK_EQ_INT(next_of("Sun 02:15-02:45 Europe/Berlin", 1792889100, &o, &c), 0);
	CHECK_EQ_INT(o, 1793495700); /* next Sunday 02:15 CET = 01:15Z */
}

/* New York 2026-03-08: 02:00 EST jumps to 03:00 EDT at 07:00Z. */
static void new_york_spring_gap(void)
{
	int64_t o, c;

	CHECK_EQ_INT(next_of("Sun 02:30-03:30 America/New_York", 1772884800, &o, &c), 0);
	CHECK_EQ_INT(o, 1772953200);
	CHECK_EQ_INT(c, 1772955000);
}

/* New York 2026-11-01: 02:00 EDT falls back to 01:00 EST at 06:00Z. */
static void new_york_autumn_overlap(void)
{
	int64_t o, c;

	CHECK_EQ_INT(next_of("Sun 01:30-02:00 America/New_York", 1793448000, &o, &c), 0);
	CHECK_EQ_INT(o, 1793511000); /* 01:30 EDT = 05:30Z */
	CHECK_EQ_INT(c, 1793516400); /* 02:00 EST = 07:00Z */
}

/* 2026-12-05 is a Saturday. */
static void window_crossing_midnight_belongs_to_its_start_day(void)
{
	int64_t o, c;

	CHECK_EQ_INT(next_of("Sat 22:00-02:00", 1796511600, &o, &c), 0); /* Sat 23:00Z */
	CHECK_EQ_INT(o, 1796508000);
	CHECK_EQ_INT(c, 1796522400);
	CHECK_EQ_INT(next_of("Sat 22:00-02:00", 1796518800, &o, &c), 0); /* Sun 01:00Z */
	CHECK(o <= 1796518800 && c == 1796522400);
	CHECK_EQ_INT(next_of("Sat 22:00-02:00 UTC", 1796598000, &o, &c), 0); /* Sun 23:00Z */
	CHECK_EQ_INT(o, 1797112800);
}

static void lists_merge_and_pick_the_earliest(void)
{
	struct window_list l;
	struct ramp_err err;
	json_t *a = json_pack("[s,s]", "Sat 22:00-24:00", "Sun 00:00-01:00");
	int64_t o, c;

	CHECK_EQ_INT(window_list_from_json(a, "windows", &l, &err), 0);
	CHECK_EQ_INT(l.n, 2);
	CHECK_EQ_INT(window_next(&l, resolve, NULL, 1796400000 /* Fri 17:20Z */, &o, &c), 0);
	CHECK_EQ_INT(o, 1796508000);
	CHECK_EQ_INT(c, 1796522400 - 3600); /* touching windows are one interval */
	json_decref(a);
	a = json_pack("[s,s]", "Mon-Fri 02:00-04:00 Europe/Berlin", "Sat 00:00-06:00");
	CHECK_EQ_INT(window_list_from_json(a, "windows", &l, &err), 0);
	/* Friday 2026-12-04 05:00Z: the next is Saturday 00:00Z */
	CHECK_EQ_INT(window_next(&l, resolve, NULL, 1796360400, &o, &c), 0);
	CHECK_EQ_INT(o, 1796428800);
	CHECK_EQ_INT(c, 1796428800 + 6 * 3600);
	json_decref(a);
}

static void every_day_when_no_days_are_named(void)
{
	int64_t o, c;

	CHECK_EQ_INT(next_of("00:00-24:00", 1796511600, &o, &c), 0);
	CHECK(o <= 1796511600 && c > 1796511600);
	CHECK_EQ_INT(next_of("Fri-Mon 10:00-11:00", 1796511600, &o, &c), 0); /* Sat 23:00 */
	CHECK_EQ_INT(o, 1796508000 + 12 * 3600); /* Sunday 10:00Z */
}

static void bad_specs_are_refused_with_a_reason(void)
{
	static const char *const bad[][2] = {
		{"", "empty"},
		{"Mon-Funday 02:00-04:00", "unknown day"},
		{"25:00-26:00", "bad time range"},
		{"02:00-02:00", "empty"},
		{"24:00-02:00", "24:00"},
		{"Mon 02:00", "bad time range"},
		{"Mon", "no HH:MM-HH:MM"},
		{"Mon 02:00-04:00 ../../etc/passwd", "bad time zone"},
		{"Mon 02:00-04:00 Europe/Berlin extra", "more than"},
		{"Mon, 02:00-04:00", "ends with a comma"},
		{"Mon,Tue, 02:00-04:00", "ends with a comma"},
		{"Mon,Xyz 02:00-04:00", "unknown day"},
		{"2:00-4:00", "bad time range"},
		{"02:00:60-04:00", "bad time range"},
		{"24:00:01-02:00", "bad time range"},
	};
	struct window w;
	struct ramp_err err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		CHECK_EQ_INT(window_parse(bad[i][0], &w, &err), RAMP_EINVAL);
		if (strstr(err.msg, bad[i][1]) == NULL)
			fprintf(stderr, "  spec \"%s\": message \"%s\" lacks \"%s\"\n", bad[i][0],
				err.msg, bad[i][1]);
		CHECK(strstr(err.msg, bad[i][1]) != NULL);
	}
}

static void lists_refuse_non_strings_and_unknown_zones(void)
{
	struct window_list l;
	struct ramp_err err;
	json_t *a = json_pack("[s,i]", "Sat 00:00-06:00", 3);
	int64_t o, c;

	CHECK_EQ_INT(window_list_from_json(a, "stages[0].windows", &l, &err), RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "stages[0].windows");
	json_decref(a);
	a = json_pack("[s,s]", "Sat 00:00-06:00", "Sat 99:00-06:00");
	CHECK_EQ_INT(window_list_from_json(a, "windows", &l, &err), RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "windows[1]");
	json_decref(a);
	CHECK_EQ_INT(next_of("Sat 00:00-06:00 Mars/Olympus", 0, &o, &c), RAMP_EINVAL);
}

static void seconds_are_allowed(void)
{
	int64_t o, c;

	CHECK_EQ_INT(next_of("Sat 22:00:05-22:00:35", 1796400000, &o, &c), 0);
	CHECK_EQ_INT(o, 1796508005);
	CHECK_EQ_INT(c, 1796508035);
}

static void rfc3339_formats_utc(void)
{
	char b[32];

	window_rfc3339(1774746000, b, sizeof(b));
	CHECK_EQ_STR(b, "2026-03-29T01:00:00Z");
	window_rfc3339(0, b, sizeof(b));
	CHECK_EQ_STR(b, "1970-01-01T00:00:00Z");
}

static const struct unit_case cases[] = {
	UNIT(tzif_offsets_match_the_table_and_the_footer),
	UNIT(tzif_refuses_garbage),
	UNIT(posix_strings_parse),
	UNIT(berlin_spring_gap_start_opens_at_the_transition),
	UNIT(berlin_window_wholly_in_the_gap_skips_that_day),
	UNIT(berlin_autumn_overlap_opens_once),
	UNIT(new_york_spring_gap),
	UNIT(new_york_autumn_overlap),
	UNIT(window_crossing_midnight_belongs_to_its_start_day),
	UNIT(lists_merge_and_pick_the_earliest),
	UNIT(every_day_when_no_days_are_named),
	UNIT(bad_specs_are_refused_with_a_reason),
	UNIT(lists_refuse_non_strings_and_unknown_zones),
	UNIT(seconds_are_allowed),
	UNIT(rfc3339_formats_utc),
	{0},
};
UNIT_MAIN(cases)
