/*
 * rollouts.c - policies (PUT/GET by name, YAML or JSON) and rollouts:
 * create, get, list, and the operator verbs pause, resume, approve,
 * promote (?full=true), rollback, abort.
 */
#include "api/api.h"

#include "domain/fields.h"
#include "domain/policy.h"
#include "domain/selector.h"
#include "engine/rollouts.h"
#include "store/tzdb.h"
#include "api/windows.h"
#include "api/strata.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Prefixes a parser's field path ("stages[1].size" -> "policy.stages[1].size"). */
static void prefix_field(struct ramp_err *err, const char *prefix)
{
	char f[300];

	snprintf(f, sizeof(f), "%s%s%s", prefix, err->field[0] ? "." : "", err->field);
	snprintf(err->field, sizeof(err->field), "%.127s", f);
}

void api_policy_put(struct req *r)
{
	struct policy *p;
	struct ramp_err err;
	json_t *doc, *out = NULL;
	bool created = false;
	int rc;

	if (!api_name_valid(r->params[0])) {
		http_reply_problem(r, 422, "name", "policy names match [a-z0-9][a-z0-9._-]{0,62}");
		return;
	}
	if (!http_check_ctype(r, true))
		return;
	if (r->body_len == 0) {
		http_reply_problem(r, 400, NULL, "request body is empty; expected a policy");
		return;
	}
	p = malloc(sizeof(*p));
	if (p == NULL) {
		http_reply_err(r, RAMP_ENOMEM, NULL);
		return;
	}
	ramp_err_clear(&err);
	rc = policy_parse(r->body, r->body_len, http_body_is_yaml(r) ? POLICY_YAML : POLICY_JSON, p,
			  &err);
	if (rc == 0)
		rc = tzdb_check_policy(p, &err); /* window zones exist */
	if (rc) {
		http_reply_err(r, rc, &err);
		free(p);
		return;
	}
	doc = policy_to_json(p);
	rc = store_policy_put(r->app->db, r->auth.name, r->params[0], doc, r->body, &created, &out);
	json_decref(doc);
	free(p);
	if (rc)
		http_reply_err(r, rc, NULL);
	else
		http_reply_json(r, created ? 201 : 200, out);
}

void api_policy_get(struct req *r)
{
	json_t *out = NULL;
	int rc = store_policy_get(r->app->db, r->params[0], &out);

	if (rc == RAMP_ENOTFOUND)
		api_reply_not_found(r, "name", "policy", r->params[0]);
	else if (rc)
		http_reply_err(r, rc, NULL);
	else
		http_reply_json(r, 200, out);
}

void api_policies_list(struct req *r)
{
	struct page pg;
	struct api_page pa;
	int rc;

	if (api_page_args(r, API_CURSOR_NAME, &pa) != 0)
		return;
	rc = store_policy_list(r->app->db, pa.limit, pa.after, &pg);
	api_reply_page(r, rc, &pg);
}

/* Fills *p from "policy": a stored name or an inline object. */
static int body_policy(struct req *r, json_t *v, struct policy *p, const char **name,
		       struct ramp_err *err)
{
	json_t *stored = NULL, *doc;
	int rc;

	*name = NULL;
	if (json_is_object(v)) {
		rc = policy_from_json(v, p, err);
		if (rc == 0)
			rc = tzdb_check_policy(p, err); /* window zones exist */
		if (rc)
			prefix_field(err, "policy");
		return rc == RAMP_EMALFORMED ? RAMP_EINVAL : rc;
	}
	if (!json_is_string(v))
		return ramp_err_set(err, RAMP_EINVAL, "policy",
				    "policy must be a stored policy's name or an inline policy");
	rc = store_policy_get(r->app->db, json_string_value(v), &stored);
	if (rc == RAMP_ENOTFOUND)
		return ramp_err_set(err, RAMP_EINVAL, "policy", "no policy named %s",
				    json_string_value(v));
	if (rc)
		return rc;
	doc = json_object_get(stored, "policy");
	rc = policy_from_json(doc, p, err);
	*name = arena_strdup(r->arena, json_string_value(v));
	json_decref(stored);
	return rc;
}

static int check_create(json_t *body, struct ramp_err *err)
{
	static const char *const allowed[] = {"model", "version", "policy", "selector", NULL};
	json_t *v;

	if (!json_is_object(body))
		return ramp_err_set(err, RAMP_EINVAL, NULL,
				    "body must be an object with model, version and policy");
	if (fields_check(body, allowed, NULL, err))
		return RAMP_EINVAL;
	if (!api_name_valid(json_string_value(json_object_get(body, "model"))))
		return ramp_err_set(err, RAMP_EINVAL, "model", "model is required (a model name)");
	if (!json_is_string(json_object_get(body, "version")) ||
	    json_string_length(json_object_get(body, "version")) == 0)
		return ramp_err_set(err, RAMP_EINVAL, "version", "version is required");
	if (json_object_get(body, "policy") == NULL)
		return ramp_err_set(err, RAMP_EINVAL, "policy", "policy is required");
	v = json_object_get(body, "selector");
	if (v && !json_is_string(v) && !json_is_null(v))
		return ramp_err_set(err, RAMP_EINVAL, "selector", "selector must be a string");
	return 0;
}

/* Every stage's cohort must exist when the rollout starts. */
static int check_cohorts(struct req *r, const struct policy *p, struct ramp_err *err)
{
	char buf[4200], field[64];

	for (size_t i = 0; i < p->nstages; i++) {
		int rc;
		if (p->stages[i].cohort[0] == '\0')
			continue;
		rc = store_cohort_selector(r->app->db, p->stages[i].cohort, buf, sizeof(buf));
		snprintf(field, sizeof(field), "policy.stages[%zu].cohort", i);
		if (rc == RAMP_ENOTFOUND)
			return ramp_err_set(err, RAMP_EINVAL, field, "no cohort named %s",
					    p->stages[i].cohort);
		if (rc)
			return rc;
	}
	return 0;
}

static void reply_rollout(struct req *r, int status, int64_t id)
{
	json_t *out = NULL;
	int rc = store_rollout_get_json(r->app->db, id, api_stuck_after_s(r->app), &out);

	if (rc == RAMP_ENOTFOUND) {
		http_reply_problem(r, 404, "id", "no rollout %lld", (long long)id);
		return;
	}
	if (rc == 0 && (rc = api_rollout_windows(r, id, out)) != 0)
		json_decref(out); /* docs/windows.md */
	else if (rc == 0 && (rc = api_rollout_strata(r, id, out)) != 0)
		json_decref(out); /* docs/strata.md */
	if (rc)
		http_reply_err(r, rc, NULL);
	else
		http_reply_json(r, status, out);
}

void api_rollouts_create(struct req *r)
{
	json_t *body = http_json_body(r);
	struct policy *p = NULL;
	struct selector *sel = NULL;
	struct ramp_err err;
	const char *pname = NULL, *seltext;
	int64_t id = 0;
	int rc;

	if (body == NULL)
		return;
	ramp_err_clear(&err);
	rc = check_create(body, &err);
	if (rc == 0 && (p = malloc(sizeof(*p))) == NULL)
		rc = RAMP_ENOMEM;
	if (rc == 0)
		rc = body_policy(r, json_object_get(body, "policy"), p, &pname, &err);
	seltext = json_string_value(json_object_get(body, "selector"));
	if (seltext == NULL)
		seltext = "";
	if (rc == 0 && selector_parse(seltext, &sel, &err) != 0)
		rc = RAMP_EINVAL;
	if (rc == 0)
		rc = check_cohorts(r, p, &err);
	if (rc == 0)
		rc = api_manifest_reachable(r, json_string_value(json_object_get(body, "model")),
					    json_string_value(json_object_get(body, "version")), &err);
	if (rc == 0)
		rc = rollouts_create(r->app, r->auth.name,
				     json_string_value(json_object_get(body, "model")),
				     json_string_value(json_object_get(body, "version")), pname, p,
				     seltext, &id, &err);
	if (rc)
		http_reply_err(r, rc, &err);
	else
		reply_rollout(r, 201, id);
	selector_free(sel);
	free(p);
	json_decref(body);
}

/* The rollout id from the path; replies 404 and returns RAMP_ENOTFOUND when not a number. */
static int64_t path_id(struct req *r)
{
	char *end;
	long long id;

	errno = 0;
	id = strtoll(r->params[0], &end, 10);
	if (errno || *end || end == r->params[0] || id <= 0) {
		api_reply_not_found(r, "id", "rollout", r->params[0]);
		return RAMP_ENOTFOUND;
	}
	return id;
}

void api_rollout_get(struct req *r)
{
	int64_t id = path_id(r);

	if (id > 0)
		reply_rollout(r, 200, id);
}

void api_rollouts_list(struct req *r)
{
	const char *state = http_query(r, "state");
	struct page pg;
	struct api_page pa;
	int rc;

	if (api_page_args(r, API_CURSOR_SEQ, &pa) != 0)
		return;
	if (state && strcmp(state, "active") && strcmp(state, "all")) {
		http_reply_problem(r, 400, "state", "state must be active or all");
		return;
	}
	rc = store_rollout_list(r->app->db, state && strcmp(state, "active") == 0,
				http_query(r, "model"), pa.limit, pa.after, &pg);
	api_reply_page(r, rc, &pg);
}

static void verb(struct req *r, enum rollout_cmd cmd)
{
	int64_t id = path_id(r);
	struct ramp_err err;
	int rc;

	if (id <= 0)
		return;
	ramp_err_clear(&err);
	rc = rollouts_command(r->app, id, cmd, r->auth.name, &err);
	if (rc == RAMP_ENOTFOUND)
		http_reply_problem(r, 404, "id", "no rollout %lld", (long long)id);
	else if (rc)
		http_reply_err(r, rc, &err);
	else
		reply_rollout(r, 200, id);
}

void api_rollout_pause(struct req *r)
{
	verb(r, CMD_PAUSE);
}

void api_rollout_resume(struct req *r)
{
	verb(r, CMD_RESUME);
}

void api_rollout_approve(struct req *r)
{
	verb(r, CMD_APPROVE);
}

void api_rollout_promote(struct req *r)
{
	const char *full = http_query(r, "full");

	verb(r, full && (strcmp(full, "true") == 0 || strcmp(full, "1") == 0) ? CMD_PROMOTE_FULL
									       : CMD_PROMOTE);
}

void api_rollout_rollback(struct req *r)
{
	verb(r, CMD_ROLLBACK);
}

void api_rollout_abort(struct req *r)
{
	verb(r, CMD_ABORT);
}
