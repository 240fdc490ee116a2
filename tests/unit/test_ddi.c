/* test_ddi.c - hawkBit DDI semantics: feedback, the poll's choice, formats. */
#include "domain/ddi.h"
#include "unit.h"

#include <jansson.h>

static int parse(const char *text, struct ddi_feedback *f, struct ramp_err *e)
{
	json_t *j = json_loads(text, 0, NULL);
	int rc;

	ramp_err_clear(e);
	rc = ddi_feedback_parse(j, f, e);
	json_decref(j);
	return rc;
}

static void feedback_reads_suricattas_body_and_ignores_unknown_fields(void)
{
	struct ddi_feedback f;
	struct ramp_err e;

	CHECK_EQ_INT(parse("{\"id\": 7, \"time\": \"20260101T000000\", \"status\": {\"result\":"
			   " {\"progress\": {\"cnt\": 0, \"of\": 1}, \"finished\": \"none\"},"
			   " \"execution\": \"proceeding\", \"details\": [\"Installing\", \"\", 3,"
			   " \"chunk 1\"]}, \"extra\": true}",
			   &f, &e),
		     0);
	CHECK_EQ_INT(f.execution, DDI_EXEC_PROCEEDING);
	CHECK_EQ_INT(f.finished, DDI_FIN_NONE);
	CHECK_EQ_STR(f.detail, "Installing; chunk 1");
	CHECK_EQ_INT(parse("{\"status\": {\"execution\": \"closed\", \"result\": {\"finished\":"
			   " \"failure\"}}, \"timestamp\": 1627997501890}",
			   &f, &e),
		     0);
	CHECK_EQ_INT(f.execution, DDI_EXEC_CLOSED);
	CHECK_EQ_INT(f.finished, DDI_FIN_FAILURE);
	CHECK_EQ_STR(f.detail, "");
}

static void feedback_names_the_missing_or_bad_field(void)
{
	static const struct {
		const char *body, *field;
	} bad[] = {
		{"{}", "status"},
		{"{\"status\": 1}", "status"},
		{"{\"status\": {\"result\": {\"finished\": \"none\"}}}", "status.execution"},
		{"{\"status\": {\"execution\": \"exploded\", \"result\": {\"finished\": \"none\"}}}",
		 "status.execution"},
		{"{\"status\": {\"execution\": \"closed\"}}", "status.result"},
		{"{\"status\": {\"execution\": \"closed\", \"result\": {}}}", "status.result.finished"},
		{"{\"status\": {\"execution\": \"closed\", \"result\": {\"finished\": \"maybe\"}}}",
		 "status.result.finished"},
		{"{\"status\": {\"execution\": \"closed\", \"result\": {\"finished\": \"none\"},"
		 " \"details\": \"x\"}}",
		 "status.details"},
	};
	struct ddi_feedback f;
	struct ramp_err e;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ_INT(parse(bad[i].body, &f, &e), RAMP_EINVAL);
		CHECK_EQ_STR(e.field, bad[i].field);
	}
	CHECK_EQ_INT(parse("[1]", &f, &e), RAMP_EINVAL);
}

static void deploy_feedback_maps_onto_agent_states(void)
{
	static const struct {
		enum ddi_execution x;
		enum ddi_finished f;
		const char *agent, *action;
	} table[] = {
		{DDI_EXEC_CLOSED, DDI_FIN_SUCCESS, "installed", "closed"},
		{DDI_EXEC_CLOSED, DDI_FIN_NONE, "installed", "closed"},
		{DDI_EXEC_CLOSED, DDI_FIN_FAILURE, "failed", "closed"},
		{DDI_EXEC_PROCEEDING, DDI_FIN_NONE, "downloading", "open"},
		{DDI_EXEC_PROCEEDING, DDI_FIN_FAILURE, "downloading", "open"},
		{DDI_EXEC_SCHEDULED, DDI_FIN_NONE, "downloading", "open"},
		{DDI_EXEC_RESUMED, DDI_FIN_NONE, "downloading", "open"},
		{DDI_EXEC_DOWNLOAD, DDI_FIN_NONE, "downloading", "open"},
		{DDI_EXEC_DOWNLOADED, DDI_FIN_NONE, "verifying", "open"},
		{DDI_EXEC_CANCELED, DDI_FIN_SUCCESS, NULL, "canceled"},
		{DDI_EXEC_REJECTED, DDI_FIN_NONE, NULL, "open"},
	};
	struct ddi_feedback f = {0};
	struct ddi_outcome o;

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		f.execution = table[i].x;
		f.finished = table[i].f;
		ddi_deploy_outcome(&f, &o);
		if (table[i].agent)
			CHECK_EQ_STR(o.agent_state, table[i].agent);
		else
			CHECK(o.agent_state == NULL);
		CHECK_EQ_STR(o.action_state, table[i].action);
	}
}

static void cancel_feedback_confirms_refuses_or_waits(void)
{
	struct ddi_feedback f = {0};

	f.execution = DDI_EXEC_CLOSED;
	f.finished = DDI_FIN_SUCCESS;
	CHECK_EQ_STR(ddi_cancel_outcome(&f), "canceled");
	f.execution = DDI_EXEC_CANCELED;
	f.finished = DDI_FIN_NONE;
	CHECK_EQ_STR(ddi_cancel_outcome(&f), "canceled");
	f.execution = DDI_EXEC_CLOSED;
	f.finished = DDI_FIN_FAILURE;
	CHECK_EQ_STR(ddi_cancel_outcome(&f), "cancel_rejected");
	f.execution = DDI_EXEC_REJECTED;
	CHECK_EQ_STR(ddi_cancel_outcome(&f), "cancel_rejected");
	f.execution = DDI_EXEC_PROCEEDING;
	CHECK(ddi_cancel_outcome(&f) == NULL);
}

static void plan_offers_the_first_model_that_differs_from_installed(void)
{
	struct ddi_model m[] = {
		{"asr", "v3", 11, "v3", false},
		{"ocr", "v2", 12, "v1", false},
		{"tts", "v9", 13, NULL, false},
	};
	int64_t id = 0;

	CHECK_EQ_INT(ddi_plan(m, 3, NULL, 0, &id), DDI_DEPLOY);
	CHECK_EQ_INT(id, 12);
	m[1].installed = "v2";
	CHECK_EQ_INT(ddi_plan(m, 3, NULL, 0, &id), DDI_DEPLOY);
	CHECK_EQ_INT(id, 13);
	m[2].installed = "v9";
	CHECK_EQ_INT(ddi_plan(m, 3, NULL, 0, &id), DDI_NOTHING);
	CHECK_EQ_INT(ddi_plan(NULL, 0, NULL, 0, &id), DDI_NOTHING);
}

static void plan_does_not_offer_a_closed_action_again(void)
{
	struct ddi_model m[] = {{"ocr", "v2", 12, "v1", true}, {"tts", "v9", 13, NULL, false}};
	int64_t id = 0;

	CHECK_EQ_INT(ddi_plan(m, 2, NULL, 0, &id), DDI_DEPLOY);
	CHECK_EQ_INT(id, 13);
	m[1].closed = true;
	CHECK_EQ_INT(ddi_plan(m, 2, NULL, 0, &id), DDI_NOTHING);
	m[1].action_id = 0; /* not numbered yet: nothing to offer */
	m[1].closed = false;
	CHECK_EQ_INT(ddi_plan(m, 2, NULL, 0, &id), DDI_NOTHING);
}

static void plan_cancels_an_open_action_whose_version_was_withdrawn_first(void)
{
	/* rolled back: ocr is v1 again while the device still installs v2 (action 12) */
	struct ddi_model m[] = {{"asr", "v4", 20, "v3", false}, {"ocr", "v1", 5, "v1", false}};
	struct ddi_open open[] = {{12, "ocr", "v2"}, {9, "gone", "v1"}};
	int64_t id = 0;

	CHECK_EQ_INT(ddi_plan(m, 2, open, 1, &id), DDI_CANCEL);
	CHECK_EQ_INT(id, 12);
	/* a model no longer desired at all withdraws its action too; lowest first */
	CHECK_EQ_INT(ddi_plan(m, 2, open, 2, &id), DDI_CANCEL);
	CHECK_EQ_INT(id, 9);
	/* once confirmed (no longer open) the next model's deployment follows */
	CHECK_EQ_INT(ddi_plan(m, 2, NULL, 0, &id), DDI_DEPLOY);
	CHECK_EQ_INT(id, 20);
}

static void plan_keeps_an_open_action_for_the_same_version(void)
{
	/* the rollout succeeded mid-install: v2 is now stable (action 30) while
	 * the device installs v2 under the rollout's action 12 */
	struct ddi_model m[] = {{"ocr", "v2", 30, "v1", false}};
	struct ddi_open open[] = {{12, "ocr", "v2"}};
	int64_t id = 0;

	CHECK_EQ_INT(ddi_plan(m, 1, open, 1, &id), DDI_DEPLOY);
	CHECK_EQ_INT(id, 12);
	m[0].closed = true; /* even when the new number was closed somehow */
	CHECK_EQ_INT(ddi_plan(m, 1, open, 1, &id), DDI_DEPLOY);
	CHECK_EQ_INT(id, 12);
}

static void formats_sleep_action_ids_and_c(void)
{
	char s[9];
	int64_t id = 0;

	ddi_sleep_text(30, s);
	CHECK_EQ_STR(s, "00:00:30");
	ddi_sleep_text(3723, s);
	CHECK_EQ_STR(s, "01:02:03");
	ddi_sleep_text(86400, s);
	CHECK_EQ_STR(s, "24:00:00");
	ddi_sleep_text(1000000, s);
	CHECK_EQ_STR(s, "99:59:59");
	ddi_sleep_text(-5, s);
	CHECK_EQ_STR(s, "00:00:00");
	CHECK_EQ_INT(ddi_action_id_parse("42", &id), 0);
	CHECK_EQ_INT(id, 42);
	CHECK_EQ_INT(ddi_action_id_parse("2147483647", &id), 0);
	CHECK_EQ_INT(ddi_action_id_parse("2147483648", &id), RAMP_EINVAL);
	CHECK_EQ_INT(ddi_action_id_parse("0", &id), RAMP_EINVAL);
	CHECK_EQ_INT(ddi_action_id_parse("-1", &id), RAMP_EINVAL);
	CHECK_EQ_INT(ddi_action_id_parse("012", &id), RAMP_EINVAL);
	CHECK_EQ_INT(ddi_action_id_parse("1x", &id), RAMP_EINVAL);
	CHECK_EQ_INT(ddi_action_id_parse("", &id), RAMP_EINVAL);
	CHECK_EQ_INT(ddi_action_id_parse(NULL, &id), RAMP_EINVAL);
	CHECK(ddi_c_hash("\"aa\"", 1) <= 0x7fffffffU);
	CHECK_EQ_INT(ddi_c_hash("\"aa\"", 1), ddi_c_hash("\"aa\"", 1));
	CHECK(ddi_c_hash("\"aa\"", 1) != ddi_c_hash("\"ab\"", 1));
	CHECK(ddi_c_hash("\"aa\"", 1) != ddi_c_hash("\"aa\"", 2));
}

static const struct unit_case cases[] = {
	UNIT(feedback_reads_suricattas_body_and_ignores_unknown_fields),
	UNIT(feedback_names_the_missing_or_bad_field),
	UNIT(deploy_feedback_maps_onto_agent_states),
	UNIT(cancel_feedback_confirms_refuses_or_waits),
	UNIT(plan_offers_the_first_model_that_differs_from_installed),
	UNIT(plan_does_not_offer_a_closed_action_again),
	UNIT(plan_cancels_an_open_action_whose_version_was_withdrawn_first),
	UNIT(plan_keeps_an_open_action_for_the_same_version),
	UNIT(formats_sleep_action_ids_and_c),
	{0},
};
UNIT_MAIN(cases)
