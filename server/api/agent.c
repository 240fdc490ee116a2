/*
 * agent.c - the device side: GET /v1/agent/desired (the hot path, answered
 * from the in-memory snapshot with an ETag, no database write) and
 * POST /v1/agent/status.
 */
#include "api/api.h"

#include "engine/engine.h"
#include "engine/notify.h"
#include "snapshot/snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void api_agent_desired(struct req *r)
{
	struct snapshot *s;
	char *text, etag[24];
	size_t len = 0;
	const char *inm;

	if (r->auth.device_id == NULL) {
		http_reply_problem(r, 403, NULL, "only a device token can ask for its desired models");
		return;
	}
	if ((s = http_snapshot(r)) == NULL) {
		http_reply_problem(r, 503, NULL, "starting up, retry shortly");
		return;
	}
	inm = http_header(r, "If-None-Match");
	if (inm && snapshot_desired_etag(s, r->auth.device_id, r->app->cfg.poll_interval_s, etag) &&
	    strcmp(inm, etag) == 0) {
		/* the hot path: nothing changed, nothing built */
		snapshot_note_poll(s, r->auth.device_id, http_header(r, "X-Agent-Version"));
		http_add_header(r, "ETag", etag);
		http_add_header(r, "Cache-Control", "no-cache");
		http_reply_empty(r, 304);
		return;
	}
	text = snapshot_desired(s, r->auth.device_id, r->app->cfg.poll_interval_s, &len, etag);
	if (text == NULL && http_defer(r))
		return; /* bringing the snapshot up to date reads the database: on a worker */
	if (text == NULL && (s = http_snapshot_fresh(r, r->auth.device_id)) != NULL)
		text = snapshot_desired(s, r->auth.device_id, r->app->cfg.poll_interval_s, &len, etag);
	if (s)
		snapshot_note_poll(s, r->auth.device_id, http_header(r, "X-Agent-Version"));
	if (text == NULL && (s == NULL || snapshot_has_device(s, r->auth.device_id, NULL))) {
		/* no snapshot to be had, or no memory for the answer: the server's
		 * trouble, not a deregistered device */
		http_reply_problem(r, 503, NULL, s ? "out of memory building the answer, retry shortly"
						   : "the fleet snapshot is unavailable, retry shortly");
		return;
	}
	if (text == NULL) {
		http_reply_problem(r, 404, NULL, "device %s is not registered", r->auth.device_id);
		return;
	}
	http_add_header(r, "ETag", etag);
	http_add_header(r, "Cache-Control", "no-cache");
	if (inm && strcmp(inm, etag) == 0) {
		free(text);
		http_reply_empty(r, 304);
		return;
	}
	http_reply_text(r, 200, "application/json", text, len);
}

static const char *const states[] = {"downloading", "verifying", "installed", "failed",
				     "rolled_back", NULL};

void api_agent_status(struct req *r)
{
	json_t *body, *v;
	const char *model, *version, *state, *detail = NULL;
	bool known = false;
	int rc;

	if (r->auth.device_id == NULL) {
		http_reply_problem(r, 403, NULL, "only a device token reports its own status");
		return;
	}
	if ((body = http_json_body(r)) == NULL)
		return;
	model = json_string_value(json_object_get(body, "model"));
	version = json_string_value(json_object_get(body, "version"));
	state = json_string_value(json_object_get(body, "state"));
	for (int i = 0; state && states[i]; i++)
		known |= strcmp(state, states[i]) == 0;
	if (!json_is_object(body)) {
		http_reply_problem(r, 422, NULL, "body must be an object");
	} else if (!api_name_valid(model)) {
		http_reply_problem(r, 422, "model", "model is required (a model name)");
	} else if (version == NULL || strlen(version) == 0 || strlen(version) > 128) {
		http_reply_problem(r, 422, "version", "version is required");
	} else if (!known) {
		http_reply_problem(r, 422, "state",
				   "state must be downloading, verifying, installed, failed or rolled_back");
	} else if ((v = json_object_get(body, "detail")) && !json_is_string(v) && !json_is_null(v)) {
		http_reply_problem(r, 422, "detail", "detail must be a string");
	} else {
		static const char *const allowed[] = {"model", "version", "state", "detail", NULL};
		if (api_reject_unknown(r, body, allowed, NULL)) {
			json_decref(body);
			return;
		}
		detail = json_string_value(json_object_get(body, "detail"));
		if (detail && strlen(detail) > 4096)
			http_reply_problem(r, 422, "detail", "detail is limited to 4096 bytes");
		else if ((rc = store_agent_status(r->app->db, r->auth.device_id, model, version,
						  state, detail)) != 0)
			http_reply_err(r, rc, NULL);
		else {
			if (strcmp(state, "failed") == 0)
				engine_wake(r->app);
			http_reply_empty(r, 204);
		}
	}
	json_decref(body);
}
