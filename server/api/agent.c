/*
 * agent.c - the device side: GET /v1/agent/desired (the hot path, answered
 * from the in-memory snapshot with an ETag, no database write) and
 * POST /v1/agent/status.
 */
#include "api/api.h"

#include "common/arena.h"
#include "domain/delta.h"

#include "engine/engine.h"
#include "engine/notify.h"
#include "snapshot/snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void api_agent_desired(struct req *r)
{
	const char *id = r->auth.device_id, *inm = http_header(r, "If-None-Match"),
		   *ver = http_header(r, "X-Agent-Version");
	int every = r->app->cfg.poll_interval_s, rc;
	struct snapshot *s;
	char *text, etag[24];
	size_t len = 0;

	if (id == NULL) {
		http_reply_problem(r, 403, NULL, "only a device token can ask for its desired models");
		return;
	}
	if ((s = http_snapshot(r)) == NULL) {
		http_reply_problem(r, 503, NULL, "starting up, retry shortly");
		return;
	}
	rc = snapshot_poll(s, id, every, ver, inm, &text, &len, etag);
	if (rc == SNAPSHOT_POLL_UNKNOWN && http_defer(r))
		return; /* bringing the snapshot up to date reads the database: on a worker */
	if (rc == SNAPSHOT_POLL_UNKNOWN && (s = http_snapshot_fresh(r, id)) != NULL)
		rc = snapshot_poll(s, id, every, ver, inm, &text, &len, etag);
	if (rc == SNAPSHOT_POLL_UNKNOWN && s != NULL) {
		http_reply_problem(r, 404, NULL, "device %s is not registered", id);
		return;
	}
	if (rc != SNAPSHOT_POLL_ANSWER && rc != SNAPSHOT_POLL_SAME) {
		/* no snapshot to be had, or no memory for the answer: the server's
		 * trouble, not a deregistered device */
		http_reply_problem(r, 503, NULL, s ? "out of memory building the answer, retry shortly"
						   : "the fleet snapshot is unavailable, retry shortly");
		return;
	}
	http_add_header(r, "ETag", etag);
	http_add_header(r, "Cache-Control", "no-cache");
	if (rc == SNAPSHOT_POLL_SAME)
		http_reply_empty(r, 304);
	else
		http_reply_text(r, 200, "application/json", text, len);
}

/* The report's optional "delta" as canonical JSON text in *out (NULL when
 * absent; the request's arena); 0, or -1 after a 422 naming the field. */
static int delta_text(struct req *r, json_t *body, char **out)
{
	json_t *v = json_object_get(body, "delta"), *j;
	struct delta_report d;
	struct ramp_err err = {0};
	char *text;

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (delta_report_parse(v, "delta", &d, &err) != 0) {
		http_reply_err(r, err.code, &err);
		return -1;
	}
	if ((j = delta_report_json(&d)) == NULL ||
	    (text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
		json_decref(j);
		http_reply_err(r, RAMP_ENOMEM, NULL);
		return -1;
	}
	json_decref(j);
	*out = arena_strdup(r->arena, text);
	free(text);
	if (*out == NULL) {
		http_reply_err(r, RAMP_ENOMEM, NULL);
		return -1;
	}
	return 0;
}

static const char *const states[] = {"downloading", "verifying", "installed", "failed",
				     "rolled_back", "deferred" /* docs/windows.md */, NULL};

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
				   "state must be downloading, verifying, installed, failed, rolled_back or deferred");
	} else if ((v = json_object_get(body, "detail")) && !json_is_string(v) && !json_is_null(v)) {
		http_reply_problem(r, 422, "detail", "detail must be a string");
	} else {
		static const char *const allowed[] = {"model", "version", "state", "detail", "delta",
						      NULL};
		char *delta = NULL;
		bool ran = false;
		if (api_reject_unknown(r, body, allowed, NULL) || delta_text(r, body, &delta) != 0) {
			json_decref(body);
			return;
		}
		detail = json_string_value(json_object_get(body, "detail"));
		if (detail && strlen(detail) > 4096)
			http_reply_problem(r, 422, "detail", "detail is limited to 4096 bytes");
		else if ((rc = store_agent_report(r->app->db, r->auth.device_id, model, version,
						  state, detail, delta, &ran)) != 0)
			http_reply_err(r, rc, NULL);
		else {
			if (strcmp(state, "failed") == 0)
				engine_wake(r->app);
			/* what it runs changed: the delta its answer may offer with it */
			if (ran)
				changed_device(r->app, r->auth.device_id);
			http_reply_empty(r, 204);
		}
	}
	json_decref(body);
}
