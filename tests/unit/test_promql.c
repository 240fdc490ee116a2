/* test_promql.c - Prometheus gates, the pure parts: the policy's provider
 * block (YAML and JSON, defaults, round trip, every refusal with its field),
 * query templates and their PromQL escaping, the /api/v1/query reader, and
 * the state machine's answer to a provider that keeps failing. */
#include "common/err.h"
#include "domain/policy.h"
#include "domain/promql.h"
#include "domain/rollout.h"
#include "unit.h"

static const char prom_yaml[] =
	"stages:\n"
	"  - name: canary\n"
	"    size: 50%\n"
	"    validation_window: 10m\n"
	"    metrics:\n"
	"      - name: cloud_error_rate\n"
	"        provider:\n"
	"          prometheus:\n"
	"            address: http://prometheus:9090\n"
	"            query: sum(rate(errors_total{model=\"{{model}}\",version=\"{{ version }}\"}[1m]))\n"
	"            timeout: 3s\n"
	"            auth:\n"
	"              bearer_token_file: prom.token\n"
	"        threshold: < 1%\n"
	"      - name: cloud_p95\n"
	"        provider:\n"
	"          prometheus:\n"
	"            address: https://prom.example:9443/prefix/\n"
	"            query: histogram_quantile(0.95, x{version=\"{{version}}\"})\n"
	"            baseline_query: histogram_quantile(0.95, x{version=\"{{baseline_version}}\"})\n"
	"            auth:\n"
	"              basic_auth: {username: ramp, password_file: prom.pw}\n"
	"        consecutive_error_limit: 2\n"
	"        threshold: < 250ms\n"
	"      - name: error_rate\n"
	"        threshold: < 0.5%\n"
	"  - name: full\n"
	"    size: 1.0\n"
	"    validation_window: 1h\n"
	"rollback:\n"
	"  on_inconclusive: pause\n";

static struct policy pol, pol2;

static int parse(const char *text, enum policy_format fmt, struct policy *p,
		 struct ramp_err *err)
{
	return policy_parse(text, strlen(text), fmt, p, err);
}

static void policy_reads_the_provider_block(void)
{
	struct ramp_err err;
	const struct prom_provider *a, *b;
	int rc = parse(prom_yaml, POLICY_YAML, &pol, &err);

	if (rc)
		fprintf(stderr, "  %s: %s\n", err.field, err.msg);
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_INT(pol.nprom, 2);
	CHECK_EQ_INT(pol.stages[0].nmetrics, 3);
	a = policy_metric_prom(&pol, &pol.stages[0].metrics[0]);
	b = policy_metric_prom(&pol, &pol.stages[0].metrics[1]);
	CHECK(a != NULL && b != NULL);
	CHECK(policy_metric_prom(&pol, &pol.stages[0].metrics[2]) == NULL);
	CHECK_EQ_STR(policy_metric_name(&pol.stages[0].metrics[0]), "cloud_error_rate");
	CHECK_EQ_STR(policy_metric_name(&pol.stages[0].metrics[2]), "error_rate");
	CHECK_EQ_STR(a->address, "http://prometheus:9090");
	CHECK_EQ_INT(a->timeout_s, 3);
	CHECK_EQ_INT(a->error_limit, 4);
	CHECK_EQ_INT(a->auth, PROM_AUTH_BEARER);
	CHECK_EQ_STR(a->token_file, "prom.token");
	CHECK_EQ_STR(a->baseline_query, "");
	CHECK_EQ_INT(b->timeout_s, PROM_TIMEOUT_DEFAULT_S);
	CHECK_EQ_INT(b->error_limit, 2);
	CHECK_EQ_INT(b->auth, PROM_AUTH_BASIC);
	CHECK_EQ_STR(b->username, "ramp");
	CHECK_EQ_STR(b->password_file, "prom.pw");
	/* thresholds in the query's base units: ratio, seconds */
	CHECK(pol.stages[0].metrics[0].threshold.value == 0.01);
	CHECK(pol.stages[0].metrics[1].threshold.value == 0.25);
	/* inherited by the next stage: the same providers, not new copies */
	CHECK_EQ_INT(pol.stages[1].nmetrics, 3);
	CHECK_EQ_INT(pol.stages[1].metrics[1].prom, pol.stages[0].metrics[1].prom);
}

static void policy_with_a_provider_round_trips(void)
{
	struct ramp_err err;
	json_t *j;
	char *s;

	CHECK_EQ_INT(parse(prom_yaml, POLICY_YAML, &pol, &err), 0);
	j = policy_to_json(&pol);
	CHECK(j != NULL);
	CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(json_object_get(
			     json_array_get(json_object_get(json_array_get(json_object_get(j, "stages"),
									    0),
							    "metrics"),
					    1),
			     "provider"), "prometheus"), "baseline_query")),
		     "histogram_quantile(0.95, x{version=\"{{baseline_version}}\"})");
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	CHECK_EQ_INT(parse(s, POLICY_JSON, &pol2, &err), 0);
	CHECK(policy_equal(&pol, &pol2));
	/* the dump expands stage 1's inherited metrics; still two providers */
	CHECK_EQ_INT(pol2.nprom, 2);
	free(s);
	/* a provider that differs in one field is a different policy */
	pol2.prom[0].timeout_s = 4;
	CHECK(!policy_equal(&pol, &pol2));
}

static void policy_json_form_equals_yaml(void)
{
	static const char js[] =
		"{\"stages\": [{\"name\": \"full\", \"size\": 1, \"validation_window\": 60,"
		" \"metrics\": [{\"name\": \"cloud_errors\", \"threshold\": \"< 1%\","
		"  \"provider\": {\"prometheus\": {\"address\": \"http://127.0.0.1:9090\","
		"   \"query\": \"up{job=\\\"{{rollout}}\\\"}\"}}}]}]}";
	static const char ym[] =
		"stages:\n"
		"  - name: full\n"
		"    size: 1\n"
		"    validation_window: 1m\n"
		"    metrics:\n"
		"      - name: cloud_errors\n"
		"        threshold: < 1%\n"
		"        provider: {prometheus: {address: 'http://127.0.0.1:9090',"
		" query: 'up{job=\"{{rollout}}\"}', timeout: 5}}\n";
	struct ramp_err err;

	CHECK_EQ_INT(parse(js, POLICY_JSON, &pol, &err), 0);
	CHECK_EQ_INT(parse(ym, POLICY_YAML, &pol2, &err), 0);
	CHECK(policy_equal(&pol, &pol2));
	CHECK_EQ_INT(pol.prom[0].auth, PROM_AUTH_NONE);
}

struct bad_case {
	const char *metric; /* YAML lines under "- " of the metric, 8 spaces in */
	const char *field, *msg_part;
};

static void policy_refuses_bad_provider_blocks(void)
{
	static const struct bad_case cases[] = {
		{"name: x1\n        threshold: < 1\n        provider: {prometheus: {address: "
		 "'http://p:9090', query: 'up', color: red}}\n",
		 "stages[0].metrics[0].provider.prometheus.color", "unknown field"},
		{"name: x1\n        threshold: < 1\n        provider: {graphite: {}}\n",
		 "stages[0].metrics[0].provider.graphite", "unknown field"},
		{"name: x1\n        threshold: < 1\n        provider: {}\n",
		 "stages[0].metrics[0].provider.prometheus", "is required"},
		{"name: x1\n        threshold: < 1\n        provider: {prometheus: {query: up}}\n",
		 "stages[0].metrics[0].provider.prometheus.address", "is required"},
		{"name: x1\n        threshold: < 1\n        provider: {prometheus: {address: "
		 "'ftp://p', query: up}}\n",
		 "stages[0].metrics[0].provider.prometheus.address", ""},
		{"name: x1\n        threshold: < 1\n        provider: {prometheus: {address: "
		 "'http://p:9090'}}\n",
		 "stages[0].metrics[0].provider.prometheus.query", "is required"},
		{"name: x1\n        threshold: < 1\n        provider: {prometheus: {address: "
		 "'http://p:9090', query: 'up{v=\"{{versoin}}\"}'}}\n",
		 "stages[0].metrics[0].provider.prometheus.query", "unknown variable"},
		{"name: x1\n        threshold: < 1\n        provider: {prometheus: {address: "
		 "'http://p:9090', query: up, timeout: 11s}}\n",
		 "stages[0].metrics[0].provider.prometheus.timeout", "from 1s to 10s"},
		{"name: x1\n        threshold: < 1\n        provider: {prometheus: {address: "
		 "'http://p:9090', query: up, auth: {bearer_token_file: ../etc/shadow}}}\n",
		 "stages[0].metrics[0].provider.prometheus.auth.bearer_token_file", "file name"},
		{"name: x1\n        threshold: < 1\n        provider: {prometheus: {address: "
		 "'http://p:9090', query: up, auth: {}}}\n",
		 "stages[0].metrics[0].provider.prometheus.auth", "exactly one"},
		{"name: x1\n        threshold: < 1\n        provider: {prometheus: {address: "
		 "'http://p:9090', query: up, auth: {basic_auth: {username: u, password_file: p,"
		 " extra: 1}}}}\n",
		 "stages[0].metrics[0].provider.prometheus.auth.basic_auth.extra", "unknown field"},
		{"name: error_rate\n        threshold: < 1\n        provider: {prometheus: {address: "
		 "'http://p:9090', query: up}}\n",
		 "stages[0].metrics[0].name", "ramp's own metrics"},
		{"name: x1\n        threshold: < 1\n        scope: any_device\n        provider: "
		 "{prometheus: {address: 'http://p:9090', query: up}}\n",
		 "stages[0].metrics[0].scope", "must be cohort"},
		{"name: x1\n        threshold: < 1 widgets\n        provider: {prometheus: {address: "
		 "'http://p:9090', query: up}}\n",
		 "stages[0].metrics[0].threshold", "unknown unit"},
		{"name: error_rate\n        threshold: < 1%\n        consecutive_error_limit: 3\n",
		 "stages[0].metrics[0].consecutive_error_limit", "provider"},
		{"name: x1\n        threshold: < 1\n        consecutive_error_limit: 0\n"
		 "        provider: {prometheus: {address: 'http://p:9090', query: up}}\n",
		 "stages[0].metrics[0].consecutive_error_limit", "at least 1"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char doc[2048];
		struct ramp_err err;
		int rc;

		snprintf(doc, sizeof(doc),
			 "stages:\n  - name: full\n    size: 1\n    validation_window: 1m\n"
			 "    metrics:\n      - %s",
			 cases[i].metric);
		rc = parse(doc, POLICY_YAML, &pol, &err);
		CHECK_EQ_INT(rc, RAMP_EINVAL);
		if (rc != RAMP_EINVAL || strcmp(err.field, cases[i].field) ||
		    !strstr(err.msg, cases[i].msg_part))
			fprintf(stderr, "  case %zu: %s: %s\n", i, err.field, err.msg);
		CHECK_EQ_STR(err.field, cases[i].field);
		CHECK(strstr(err.msg, cases[i].msg_part) != NULL);
		CHECK_EQ_INT(pol.nprom, 0); /* left zeroed */
	}
}

static void policy_caps_distinct_providers(void)
{
	char doc[8192];
	size_t k;
	struct ramp_err err;

	k = (size_t)snprintf(doc, sizeof(doc), "stages:\n  - name: full\n    size: 1\n"
					      "    validation_window: 1m\n    metrics:\n");
	for (int i = 0; i < PROM_MAX + 1; i++)
		k += (size_t)snprintf(doc + k, sizeof(doc) - k,
				      "      - {name: m%d, threshold: < 1, provider: {prometheus: "
				      "{address: 'http://p:9090', query: 'up%d'}}}\n",
				      i, i);
	CHECK_EQ_INT(parse(doc, POLICY_YAML, &pol, &err), RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "stages[0].metrics[8].provider");
}

static void templates_render_every_variable(void)
{
	struct prom_vars v = {"scorer", "v2", "v1", "canary", "17"};
	char out[256];

	CHECK_EQ_INT(prom_render("a{m=\"{{model}}\",v=\"{{version}}\",b=\"{{baseline_version}}\","
				 "s=\"{{ stage }}\",r=\"{{rollout}}\"}",
				 &v, NULL, out, sizeof(out)),
		     0);
	CHECK_EQ_STR(out, "a{m=\"scorer\",v=\"v2\",b=\"v1\",s=\"canary\",r=\"17\"}");
	/* the default baseline query: the same text with {{version}} = the baseline */
	CHECK_EQ_INT(prom_render("x{v=\"{{version}}\"}", &v, "v1", out, sizeof(out)), 0);
	CHECK_EQ_STR(out, "x{v=\"v1\"}");
	/* a NULL value renders empty; text without variables is unchanged */
	v.baseline_version = NULL;
	CHECK_EQ_INT(prom_render("{{baseline_version}}|{ {x} }", &v, NULL, out, sizeof(out)), 0);
	CHECK_EQ_STR(out, "|{ {x} }");
}

static void templates_escape_values_for_promql_strings(void)
{
	struct prom_vars v = {"a\"b", "1\\2'3", "x\ny", "\x01", ""};
	char out[256];

	CHECK_EQ_INT(prom_render("{m=\"{{model}}\",v='{{version}}',b=\"{{baseline_version}}\","
				 "s=\"{{stage}}\"}",
				 &v, NULL, out, sizeof(out)),
		     0);
	CHECK_EQ_STR(out, "{m=\"a\\\"b\",v='1\\\\2\\'3',b=\"x\\x0ay\",s=\"\\x01\"}");
}

static void templates_refuse_unknown_variables_and_overflow(void)
{
	struct prom_vars v = {"m", "v", "b", "s", "r"};
	char why[160], out[8];

	CHECK_EQ_INT(prom_template_check("up{v=\"{{version}}\"}", why, sizeof(why)), 0);
	CHECK_EQ_INT(prom_template_check("up{v=\"{{verison}}\"}", why, sizeof(why)), -1);
	CHECK(strstr(why, "unknown variable") != NULL);
	CHECK_EQ_INT(prom_template_check("up{v=\"{{version\"}", why, sizeof(why)), -1);
	CHECK_EQ_INT(prom_render("{{model}}{{model}}{{model}}{{model}}{{model}}{{model}}{{model}}"
				 "{{model}}",
				 &v, NULL, out, sizeof(out)),
		     -1);
	CHECK_EQ_STR(out, "");
	CHECK_EQ_INT(prom_render("1234567", &v, NULL, out, sizeof(out)), 0);
	CHECK_EQ_INT(prom_render("12345678", &v, NULL, out, sizeof(out)), -1);
}

static enum prom_outcome rd(const char *body, double *v, char *why)
{
	return prom_parse_response(body, strlen(body), 200, v, why, 200);
}

static void responses_give_one_value_or_say_why(void)
{
	double v;
	char why[200];

	CHECK_EQ_INT(rd("{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\","
			"\"result\":[1700000000.1,\"0.25\"]}}", &v, why),
		     PROM_VALUE);
	CHECK(v == 0.25);
	CHECK_EQ_INT(rd("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":"
			"[{\"metric\":{\"a\":\"b\"},\"value\":[1700000000,\"1e-3\"]}]}}", &v, why),
		     PROM_VALUE);
	CHECK(v == 0.001);
	CHECK_EQ_INT(rd("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":"
			"[{\"metric\":{},\"value\":[1,\"+Inf\"]}]}}", &v, why),
		     PROM_VALUE);
	CHECK(isinf(v) && v > 0);
	CHECK_EQ_INT(rd("{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\","
			"\"result\":[1,\"-Inf\"]}}", &v, why),
		     PROM_VALUE);
	CHECK(isinf(v) && v < 0);
	/* empty and NaN: no data */
	CHECK_EQ_INT(rd("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
			"\"result\":[]}}", &v, why),
		     PROM_NODATA);
	CHECK_EQ_STR(why, "no data");
	CHECK_EQ_INT(rd("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":"
			"[{\"metric\":{},\"value\":[1,\"NaN\"]}]}}", &v, why),
		     PROM_NODATA);
	CHECK_EQ_STR(why, "NaN");
	CHECK(isnan(v));
	/* errors */
	CHECK_EQ_INT(rd("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":"
			"[{\"metric\":{\"i\":\"1\"},\"value\":[1,\"1\"]},"
			"{\"metric\":{\"i\":\"2\"},\"value\":[1,\"2\"]}]}}", &v, why),
		     PROM_ERROR);
	CHECK(strstr(why, "2 series") != NULL);
	CHECK(isnan(v));
	CHECK_EQ_INT(rd("{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":"
			"[{\"metric\":{},\"values\":[[1,\"1\"]]}]}}", &v, why),
		     PROM_ERROR);
	CHECK(strstr(why, "matrix") != NULL);
	static const char perr[] = "{\"status\":\"error\",\"errorType\":\"bad_data\","
				   "\"error\":\"1:5: parse error: unclosed left parenthesis\"}";
	CHECK_EQ_INT(prom_parse_response(perr, strlen(perr), 400, &v, why, sizeof(why)),
		     PROM_ERROR);
	CHECK(strstr(why, "HTTP 400: bad_data: 1:5: parse error") != NULL);
	CHECK_EQ_INT(prom_parse_response("<html>", 6, 502, &v, why, sizeof(why)), PROM_ERROR);
	CHECK(strstr(why, "HTTP 502") != NULL);
	CHECK_EQ_INT(prom_parse_response(NULL, 0, 0, &v, why, sizeof(why)), PROM_ERROR);
	CHECK_EQ_INT(rd("{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\","
			"\"result\":[1,\"0x10\"]}}", &v, why),
		     PROM_ERROR);
	CHECK_EQ_INT(rd("{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\","
			"\"result\":[1,2]}}", &v, why),
		     PROM_ERROR);
	CHECK_EQ_INT(rd("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":"
			"[{\"metric\":{}}]}}", &v, why),
		     PROM_ERROR);
	CHECK_EQ_INT(rd("{\"status\":\"success\"}", &v, why), PROM_ERROR);
}

static void a_provider_that_gives_up_makes_the_stage_inconclusive_now(void)
{
	struct rollout_state cur, next;
	struct rollout_actions acts;
	struct rollout_analysis a = {.evaluated = true, .verdict = VERDICT_INCONCLUSIVE};
	struct ramp_err err;

	CHECK_EQ_INT(parse(prom_yaml, POLICY_YAML, &pol, &err), 0);
	rollout_start(&pol, 1000, &cur, &acts);
	/* errors below the limit: nothing happens before the window's end */
	CHECK_EQ_INT(rollout_step(&pol, &cur, CMD_EVALUATE, &a, 1010, NULL, &next, &acts, &err), 0);
	CHECK_EQ_INT(next.phase, ROLLOUT_PROGRESSING);
	CHECK_EQ_INT(acts.n, 0);
	/* the limit reached: inconclusive at once (pause here), never a breach */
	a.give_up = true;
	snprintf(a.detail, sizeof(a.detail), "cloud_p95: the query failed (2 of 2 in a row)");
	CHECK_EQ_INT(rollout_step(&pol, &cur, CMD_EVALUATE, &a, 1011, NULL, &next, &acts, &err), 0);
	CHECK_EQ_INT(next.phase, ROLLOUT_PAUSED);
	CHECK_EQ_INT(next.failing, 0);
	CHECK_EQ_STR(acts.a[0].event, "inconclusive");
	CHECK(strstr(acts.a[0].detail, "before its window's end: cloud_p95: the query failed") !=
	      NULL);
}

static const struct unit_case cases[] = {
	UNIT(policy_reads_the_provider_block),
	UNIT(policy_with_a_provider_round_trips),
	UNIT(policy_json_form_equals_yaml),
	UNIT(policy_refuses_bad_provider_blocks),
	UNIT(policy_caps_distinct_providers),
	UNIT(templates_render_every_variable),
	UNIT(templates_escape_values_for_promql_strings),
	UNIT(templates_refuse_unknown_variables_and_overflow),
	UNIT(responses_give_one_value_or_say_why),
	UNIT(a_provider_that_gives_up_makes_the_stage_inconclusive_now),
	{0},
};
UNIT_MAIN(cases)
