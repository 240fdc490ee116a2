/*
 * dash.c - what the dashboard and rampctl need beyond the resource API:
 * GET /v1/whoami (the caller's token name and role, so clients show only
 * the actions allowed), a rollout's analysis history for charts, the fleet
 * summary, and the dashboard's own files at / and /ui/<file>, served from
 * the table compiled into the binary with a strict Content-Security-Policy.
 */
#include "api/api.h"

#include "auth/auth.h"
#include "domain/metric.h"
#include "domain/policy.h"
#include "store/store_dash.h"
#include "ui/assets.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define UI_CSP                                                                  \
	"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;" \
	" connect-src 'self'; frame-ancestors 'none'"

void api_whoami(struct req *r)
{
	json_t *j = json_pack("{s:s, s:s}", "name", r->auth.name ? r->auth.name : "",
			      "role", auth_role_name(r->auth.role));

	if (j == NULL) {
		http_reply_err(r, RAMP_ENOMEM, NULL);
		return;
	}
	json_object_set_new(j, "device_id",
			    r->auth.device_id ? json_string(r->auth.device_id) : json_null());
	http_reply_json(r, 200, j);
}

/* Parses a positive integer; false when s is not one. */
static bool parse_pos(const char *s, long long max, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	return errno == 0 && end != s && *end == '\0' && *out > 0 && *out <= max;
}

void api_rollout_history(struct req *r)
{
	const char *metric = http_query(r, "metric"), *lim = http_query(r, "limit");
	long long id, limit = STORE_HISTORY_MAX;
	json_t *items = NULL;
	int rc;

	if (!parse_pos(r->params[0], INT64_MAX, &id)) {
		api_reply_not_found(r, "id", "rollout", r->params[0]);
		return;
	}
	if (metric == NULL) {
		http_reply_problem(r, 400, "metric", "metric is required, e.g. ?metric=error_rate");
		return;
	}
	if (metric_from_name(metric) < 0) {
		/* a metric of the policy's own (read from Prometheus) has history too */
		bool named = false;
		rc = policy_name_valid(metric)
			     ? store_rollout_names_metric(r->app->db, id, metric, &named)
			     : 0;
		if (rc == RAMP_ENOTFOUND) {
			http_reply_problem(r, 404, "id", "no rollout %lld", id);
			return;
		}
		if (rc || !named) {
			if (rc)
				http_reply_err(r, rc, NULL);
			else
				http_reply_problem(r, 400, "metric", "unknown metric %.64s", metric);
			return;
		}
	}
	if (lim && !parse_pos(lim, STORE_HISTORY_MAX, &limit)) {
		http_reply_problem(r, 400, "limit", "limit must be an integer from 1 to %d",
				   STORE_HISTORY_MAX);
		return;
	}
	rc = store_analysis_history(r->app->db, id, metric, (int)limit, &items);
	if (rc == RAMP_ENOTFOUND)
		http_reply_problem(r, 404, "id", "no rollout %lld", id);
	else if (rc)
		http_reply_err(r, rc, NULL);
	else
		http_reply_json(r, 200, json_pack("{s:s, s:o}", "metric", metric, "items", items));
}

void api_fleet_summary(struct req *r)
{
	json_t *out = NULL;
	int rc = store_fleet_summary(r->app->db, &out);

	if (rc)
		http_reply_err(r, rc, NULL);
	else
		http_reply_json(r, 200, out);
}

static void reply_asset(struct req *r, const char *name)
{
	const struct ui_asset *a = NULL;
	char *copy;

	for (int i = 0; ui_assets[i].name; i++)
		if (strcmp(ui_assets[i].name, name) == 0)
			a = &ui_assets[i];
	if (a == NULL) {
		http_reply_problem(r, 404, NULL, "no such resource"); /* no echo of the path */
		return;
	}
	copy = malloc(a->len ? a->len : 1);
	if (copy == NULL) {
		http_reply_err(r, RAMP_ENOMEM, NULL);
		return;
	}
	memcpy(copy, a->data, a->len);
	http_add_header(r, "Content-Security-Policy", UI_CSP);
	http_add_header(r, "X-Content-Type-Options", "nosniff");
	http_add_header(r, "X-Frame-Options", "DENY");
	http_add_header(r, "Referrer-Policy", "no-referrer");
	http_add_header(r, "Cache-Control", "no-cache");
	http_reply_text(r, 200, a->ctype, copy, a->len);
}

void api_ui_index(struct req *r)
{
	reply_asset(r, "index.html");
}

void api_ui_asset(struct req *r)
{
	reply_asset(r, r->params[0]);
}
