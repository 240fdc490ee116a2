/*
 * hawkbit_feedback.c - what DDI devices tell ramp: deploymentBase and
 * cancelAction feedback, configData (merged into the device's labels) and
 * installedBase (the device's own report of the version it runs).
 *
 * Feedback becomes ramp's agent status (store_agent_status), so DDI
 * installs count toward install_failure_rate like any agent's, but only
 * when the action's version is still the device's desired version: a late
 * report on a withdrawn version is accepted and noted for DDI, never
 * counted against the rollout that replaced it.
 */
#include "api/hawkbit.h"

#include "common/log.h"
#include "domain/ddi.h"
#include "domain/selector.h"
#include "engine/engine.h"
#include "engine/notify.h"
#include "store/store_hawkbit.h"

#include <stdio.h>
#include <string.h>

static const char *const finished_names[] = {"success", "failure", "none"};

/* The feedback body, parsed; replies 400/415/422 and returns false when bad. */
static bool read_feedback(struct req *r, struct ddi_feedback *f)
{
	json_t *body = http_json_body(r);
	struct ramp_err err;
	int rc;

	if (body == NULL)
		return false;
	ramp_err_clear(&err);
	rc = ddi_feedback_parse(body, f, &err);
	json_decref(body);
	if (rc)
		http_reply_err(r, rc, &err);
	return rc == 0;
}

/* Records the agent status an outcome maps to, when the action is still desired. */
static int record_agent(struct req *r, const struct hawkbit_ctx *h, const json_t *action,
			const char *state, const struct ddi_feedback *f)
{
	const char *model = json_string_value(json_object_get(action, "model"));
	const char *version = json_string_value(json_object_get(action, "version"));
	int rc;

	if (state == NULL)
		return 0;
	if (!hawkbit_is_desired(h, action)) {
		log_info("msg=\"hawkbit feedback on a superseded action not recorded\" device=%s"
			 " action=%s model=%s version=%s state=%s",
			 h->device, r->params[2], model, version, state);
		return 0;
	}
	rc = store_agent_status(r->app->db, h->device, model, version, state,
				f->detail[0] ? f->detail : NULL);
	if (rc == 0 && strcmp(state, "failed") == 0)
		engine_wake(r->app);
	return rc;
}

void api_hawkbit_feedback(struct req *r)
{
	struct hawkbit_ctx h;
	struct ddi_feedback f;
	struct ddi_outcome o;
	json_t *action = NULL;
	const char *installed = NULL;
	int rc;

	if (!hawkbit_begin(r, &h, false))
		return;
	if (!read_feedback(r, &f) || (action = hawkbit_action(r, 2)) == NULL)
		goto out;
	ddi_deploy_outcome(&f, &o);
	{
		const char *win = hawkbit_window(&h, json_string_value(json_object_get(action, "model")));
		/* SWUpdate's answer to update "skip": a close that installed nothing,
		 * also when its window opened between the deployment and this post */
		bool skipped = f.execution == DDI_EXEC_CLOSED && f.finished == DDI_FIN_SUCCESS &&
			       strstr(f.detail, "Skipped Update") != NULL;
		if (((win && strcmp(win, "unavailable") == 0) || (win && skipped)) &&
		    hawkbit_is_desired(&h, action)) {
			/* SWUpdate closes a skipped update as "success"; outside its
			 * window nothing was installed: the action stays open */
			log_info("msg=\"hawkbit feedback outside the maintenance window not recorded\""
				 " device=%s action=%s execution=%s", h.device, r->params[2],
				 f.execution == DDI_EXEC_CLOSED ? "closed" : "other");
			http_reply_empty(r, 200);
			goto out;
		}
	}
	if (f.execution == DDI_EXEC_CLOSED && f.finished != DDI_FIN_FAILURE)
		installed = json_string_value(json_object_get(action, "version"));
	rc = store_hawkbit_record(r->app->db, h.device,
				  json_integer_value(json_object_get(action, "id")), o.action_state,
				  finished_names[f.finished],
				  json_string_value(json_object_get(action, "model")), installed);
	if (rc == 0)
		rc = record_agent(r, &h, action, o.agent_state, &f);
	if (rc)
		http_reply_err(r, rc, NULL);
	else
		http_reply_empty(r, 200);
out:
	json_decref(action);
	hawkbit_end(&h);
}

void api_hawkbit_cancel_feedback(struct req *r)
{
	struct hawkbit_ctx h;
	struct ddi_feedback f;
	json_t *action = NULL;
	const char *state;
	int rc = 0;

	if (!hawkbit_begin(r, &h, false))
		return;
	if (!read_feedback(r, &f) || (action = hawkbit_action(r, 2)) == NULL)
		goto out;
	if ((state = ddi_cancel_outcome(&f)) != NULL)
		rc = store_hawkbit_record(r->app->db, h.device,
					  json_integer_value(json_object_get(action, "id")), state,
					  finished_names[f.finished], NULL, NULL);
	if (rc)
		http_reply_err(r, rc, NULL);
	else
		http_reply_empty(r, 200);
out:
	json_decref(action);
	hawkbit_end(&h);
}

/* ---- configData ---- */

/* Turns configData's "data" into a device patch {labels?}: keys and values
 * that are valid labels are kept (null under mode "remove"); the rest is
 * logged and ignored. "platform" is the operator's (PATCH /v1/devices), not
 * the device's, so it is ignored too. */
static json_t *config_patch(const char *device, json_t *data, bool remove)
{
	json_t *labels = json_object(), *patch = json_object(), *v;
	const char *k, *s;

	json_object_foreach(data, k, v) {
		s = json_string_value(v);
		if (strcmp(k, "platform") != 0 && selector_label_key_valid(k) &&
		    (remove || (s && selector_label_value_valid(s))))
			json_object_set_new(labels, k, remove ? json_null() : json_string(s));
		else
			log_info("msg=\"hawkbit configData entry ignored: not a valid label\""
				 " device=%s key=\"%.64s\"",
				 device, k);
	}
	if (json_object_size(labels))
		json_object_set(patch, "labels", labels);
	json_decref(labels);
	return patch;
}

void api_hawkbit_config(struct req *r)
{
	struct hawkbit_ctx h;
	json_t *body, *data, *patch = NULL, *out = NULL;
	const char *mode;
	int rc = 0;

	if (!hawkbit_begin(r, &h, false))
		return;
	if ((body = http_json_body(r)) == NULL)
		goto out;
	data = json_object_get(body, "data");
	mode = json_string_value(json_object_get(body, "mode"));
	if (!json_is_object(body) || !json_is_object(data)) {
		http_reply_problem(r, 422, "data", "data is required (an object of strings)");
		goto out;
	}
	if (json_object_get(body, "mode") && !(mode && (strcmp(mode, "merge") == 0 ||
							strcmp(mode, "replace") == 0 ||
							strcmp(mode, "remove") == 0))) {
		http_reply_problem(r, 422, "mode", "mode must be merge, replace or remove");
		goto out;
	}
	patch = config_patch(h.device, data, mode && strcmp(mode, "remove") == 0);
	if (json_object_size(patch))
		rc = store_device_patch(r->app->db, r->auth.name, h.device, patch,
					 api_stuck_after_s(r->app), &out);
	if (rc == 0 && json_object_size(patch))
		changed_device(r->app, h.device);
	if (rc == 0)
		rc = store_hawkbit_config_sent(r->app->db, h.device);
	if (rc)
		http_reply_err(r, rc, NULL);
	else
		http_reply_empty(r, 200);
out:
	json_decref(out);
	json_decref(patch);
	json_decref(body);
	hawkbit_end(&h);
}

/* ---- installedBase ---- */

void api_hawkbit_installed(struct req *r)
{
	struct hawkbit_ctx h;
	json_t *body;
	const char *model, *version;
	int rc;

	if (!hawkbit_begin(r, &h, false))
		return;
	if ((body = http_json_body(r)) == NULL)
		goto out;
	model = json_string_value(json_object_get(body, "name"));
	version = json_string_value(json_object_get(body, "version"));
	if (!api_name_valid(model)) {
		http_reply_problem(r, 422, "name", "name is required (the model name)");
	} else if (version == NULL || *version == '\0' || strlen(version) > 128) {
		http_reply_problem(r, 422, "version", "version is required (1 to 128 characters)");
	} else {
		rc = store_hawkbit_installed(r->app->db, h.device, model, version);
		if (rc == 0)
			rc = store_agent_status(r->app->db, h.device, model, version, "installed",
						"reported through DDI installedBase");
		if (rc)
			http_reply_err(r, rc, NULL);
		else
			http_reply_empty(r, 200);
	}
	json_decref(body);
out:
	hawkbit_end(&h);
}
