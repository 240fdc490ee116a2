/* test_policy_windows.c - the maintenance-window block of a policy: the
 * top-level default, a stage's own list and an explicit none, the rollback
 * switch, errors with their field paths, and the canonical round trip. */
#include "common/err.h"
#include "domain/policy.h"
#include "unit.h"

static struct policy pol, pol2;

static const char yaml[] =
	"windows: [\"Mon-Fri 02:00-04:00 Europe/Berlin\", \"Sat 00:00-06:00\"]\n"
	"rollback_respects_windows: true\n"
	"stages:\n"
	"  - name: canary\n"
	"    size: 0.1\n"
	"    validation_window: 30m\n"
	"    windows: [\"Sat 22:00-02:00 America/New_York\"]\n"
	"  - name: ramp\n"
	"    size: 0.5\n"
	"    validation_window: 1h\n"
	"  - name: full\n"
	"    size: 1.0\n"
	"    validation_window: 1h\n"
	"    windows: []\n";

static int parse(const char *text, enum policy_format f, struct policy *p, struct ramp_err *e)
{
	return policy_parse(text, strlen(text), f, p, e);
}

static void stage_windows_and_the_default(void)
{
	struct ramp_err err;

	CHECK_EQ_INT(parse(yaml, POLICY_YAML, &pol, &err), 0);
	CHECK(pol.rollback_respects_windows);
	CHECK_EQ_INT(pol.stages[0].windows.n, 1);
	CHECK_EQ_STR(pol.stages[0].windows.w[0].zone, "America/New_York");
	CHECK_EQ_INT(pol.stages[0].windows.w[0].start_s, 22 * 3600);
	CHECK_EQ_INT(pol.stages[1].windows.n, 2); /* inherits the top-level list */
	CHECK_EQ_STR(pol.stages[1].windows.w[0].text, "Mon-Fri 02:00-04:00 Europe/Berlin");
	CHECK_EQ_INT(pol.stages[1].windows.w[0].days, 0x1f);
	CHECK_EQ_INT(pol.stages[2].windows.n, 0); /* [] means none */
}

static void defaults_have_no_windows(void)
{
	struct ramp_err err;
	static const char plain[] = "{\"stages\": [{\"name\": \"all\", \"size\": 1.0,"
				    " \"validation_window\": \"1m\"}]}";
	json_t *j;

	CHECK_EQ_INT(parse(plain, POLICY_JSON, &pol, &err), 0);
	CHECK(!pol.rollback_respects_windows);
	CHECK_EQ_INT(pol.stages[0].windows.n, 0);
	j = policy_to_json(&pol);
	/* a policy without windows dumps exactly as before */
	CHECK(json_object_get(j, "rollback_respects_windows") == NULL);
	CHECK(json_object_get(json_array_get(json_object_get(j, "stages"), 0), "windows") == NULL);
	json_decref(j);
}

static void round_trip_keeps_windows(void)
{
	struct ramp_err err;
	json_t *j;
	char *text;

	CHECK_EQ_INT(parse(yaml, POLICY_YAML, &pol, &err), 0);
	j = policy_to_json(&pol);
	CHECK(j != NULL);
	text = json_dumps(j, 0);
	CHECK_EQ_INT(parse(text, POLICY_JSON, &pol2, &err), 0);
	CHECK(policy_equal(&pol, &pol2));
	pol2.stages[1].windows.n = 1;
	CHECK(!policy_equal(&pol, &pol2));
	pol2 = pol;
	pol2.rollback_respects_windows = false;
	CHECK(!policy_equal(&pol, &pol2));
	free(text);
	json_decref(j);
}

static void bad_windows_name_their_field(void)
{
	static const char *const bad[][3] = {
		{"{\"windows\": \"Sat 00:00-06:00\", \"stages\": [{\"name\": \"a\", \"size\": 1,"
		 " \"validation_window\": 60}]}",
		 "windows", "must be a list"},
		{"{\"stages\": [{\"name\": \"a\", \"size\": 1, \"validation_window\": 60,"
		 " \"windows\": [\"Sat 00:00-06:00\", \"Sun 02:00-02:00\"]}]}",
		 "stages[0].windows[1]", "empty"},
		{"{\"stages\": [{\"name\": \"a\", \"size\": 1, \"validation_window\": 60,"
		 " \"windows\": [\"Someday 00:00-06:00\"]}]}",
		 "stages[0].windows[0]", "unknown day"},
		{"{\"rollback_respects_windows\": \"yes\", \"stages\": [{\"name\": \"a\","
		 " \"size\": 1, \"validation_window\": 60}]}",
		 "rollback_respects_windows", "must be true or false"},
		{"{\"stages\": [{\"name\": \"a\", \"size\": 1, \"validation_window\": 60,"
		 " \"windows\": [1]}]}",
		 "stages[0].windows", "must be a string"},
	};
	struct ramp_err err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		CHECK_EQ_INT(parse(bad[i][0], POLICY_JSON, &pol, &err), RAMP_EINVAL);
		CHECK_EQ_STR(err.field, bad[i][1]);
		CHECK(strstr(err.msg, bad[i][2]) != NULL);
		CHECK_EQ_INT(pol.nstages, 0); /* left zeroed */
	}
}

/* label_windows: a ramp.window value's list replaces the stage's in every
 * stage; a value it does not name keeps the stage's; the canonical JSON
 * round-trips in any key order. */
static void label_windows_override_the_stage_for_their_devices(void)
{
	static const char lw[] =
		"{\"label_windows\": {\"warehouse\": [], \"kiosk\": [\"Mon-Fri 02:00-04:00"
		" Europe/Berlin\"]}, \"stages\": [{\"name\": \"a\", \"size\": 0.5,"
		" \"validation_window\": 60, \"windows\": [\"Sat 00:00-06:00\"]},"
		" {\"name\": \"b\", \"size\": 1, \"validation_window\": 60}]}";
	static const char lw2[] =
		"{\"label_windows\": {\"kiosk\": [\"Mon-Fri 02:00-04:00 Europe/Berlin\"],"
		" \"warehouse\": []}, \"stages\": [{\"name\": \"a\", \"size\": 0.5,"
		" \"validation_window\": 60, \"windows\": [\"Sat 00:00-06:00\"]},"
		" {\"name\": \"b\", \"size\": 1, \"validation_window\": 60}]}";
	struct ramp_err err;
	json_t *j;
	char *text;

	CHECK_EQ_INT(parse(lw, POLICY_JSON, &pol, &err), 0);
	CHECK_EQ_INT(pol.nlabel_windows, 2);
	CHECK_EQ_INT(policy_group_windows(&pol, 0, "kiosk")->n, 1);
	CHECK_EQ_STR(policy_group_windows(&pol, 1, "kiosk")->w[0].zone, "Europe/Berlin");
	CHECK_EQ_INT(policy_group_windows(&pol, 0, "warehouse")->n, 0);
	CHECK(policy_group_windows(&pol, 0, "other") == &pol.stages[0].windows);
	CHECK(policy_group_windows(&pol, 1, NULL) == &pol.stages[1].windows);
	j = policy_to_json(&pol);
	text = j ? json_dumps(j, JSON_SORT_KEYS) : NULL;
	CHECK(text != NULL && strstr(text, "\"label_windows\"") != NULL);
	CHECK_EQ_INT(parse(text ? text : "", POLICY_JSON, &pol2, &err), 0);
	CHECK(policy_equal(&pol, &pol2));
	CHECK_EQ_INT(parse(lw2, POLICY_JSON, &pol2, &err), 0);
	CHECK(policy_equal(&pol, &pol2)); /* the order of values does not matter */
	pol2.label_windows[0].windows.n = 0;
	CHECK(!policy_equal(&pol, &pol2));
	free(text);
	json_decref(j);
}

static const struct unit_case cases[] = {
	UNIT(label_windows_override_the_stage_for_their_devices),
	UNIT(stage_windows_and_the_default),
	UNIT(defaults_have_no_windows),
	UNIT(round_trip_keeps_windows),
	UNIT(bad_windows_name_their_field),
	{0},
};
UNIT_MAIN(cases)
