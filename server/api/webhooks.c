/*
 * webhooks.c - PUT/GET/DELETE /v1/webhooks: where rampd POSTs signed
 * rollout events (docs/webhooks.md). Every field is checked before
 * anything is stored; the secret is write-only.
 */
#include "api/api.h"

#include "store/store_webhooks.h"

#include <string.h>

#define WEBHOOK_URL_MAX 2048
#define WEBHOOK_SECRET_MIN 16
#define WEBHOOK_SECRET_MAX 256

static const char *const event_types[] = {
	"created", "stage_started", "promoted", "breach", "inconclusive", "awaiting_approval",
	"approved", "paused", "resumed", "rolled_back", "aborted", "succeeded", NULL,
};

static bool event_known(const char *s)
{
	for (int i = 0; event_types[i]; i++)
		if (strcmp(event_types[i], s) == 0)
			return true;
	return false;
}

static bool url_ok(const char *u)
{
	const char *host;
	size_t n = strlen(u);

	if (n > WEBHOOK_URL_MAX)
		return false;
	if (strncmp(u, "http://", 7) == 0)
		host = u + 7;
	else if (strncmp(u, "https://", 8) == 0)
		host = u + 8;
	else
		return false;
	if (*host == '\0' || *host == '/' || *host == '?' || *host == '#')
		return false;
	for (const char *p = u; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return false;
	return true;
}

/* Replies 422 naming the field and returns false when events is not a
 * non-empty array of distinct known event types. */
static bool events_ok(struct req *r, json_t *ev)
{
	size_t i, j;
	json_t *v;

	if (!json_is_array(ev) || json_array_size(ev) == 0) {
		http_reply_problem(r, 422, "events", "events must be a non-empty array of event types");
		return false;
	}
	json_array_foreach(ev, i, v) {
		if (!json_is_string(v) || !event_known(json_string_value(v))) {
			http_reply_problem(r, 422, "events",
					   "events[%zu] is not a rollout event type (promoted,"
					   " awaiting_approval, paused, rolled_back, succeeded, ...)",
					   i);
			return false;
		}
		for (j = 0; j < i; j++)
			if (json_equal(v, json_array_get(ev, j))) {
				http_reply_problem(r, 422, "events", "events[%zu] repeats %s", i,
						   json_string_value(v));
				return false;
			}
	}
	return true;
}

/* Checks the whole body; replies 422 and returns false on the first fault. */
static bool body_ok(struct req *r, json_t *body)
{
	const char *k;
	json_t *v;

	if (!json_is_object(body)) {
		http_reply_problem(r, 422, NULL, "body must be {\"url\", \"events\", \"secret\"}");
		return false;
	}
	json_object_foreach(body, k, v) {
		if (strcmp(k, "url") != 0 && strcmp(k, "events") != 0 && strcmp(k, "secret") != 0) {
			http_reply_problem(r, 422, k, "unknown field");
			return false;
		}
	}
	v = json_object_get(body, "url");
	if (!json_is_string(v) || !url_ok(json_string_value(v))) {
		http_reply_problem(r, 422, "url", "url must be an http:// or https:// URL of at most %d"
				   " characters without spaces", WEBHOOK_URL_MAX);
		return false;
	}
	if (!events_ok(r, json_object_get(body, "events")))
		return false;
	v = json_object_get(body, "secret");
	if (!json_is_string(v) || json_string_length(v) < WEBHOOK_SECRET_MIN ||
	    json_string_length(v) > WEBHOOK_SECRET_MAX ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		http_reply_problem(r, 422, "secret", "secret must be a string of %d to %d characters",
				   WEBHOOK_SECRET_MIN, WEBHOOK_SECRET_MAX);
		return false;
	}
	return true;
}

void api_webhook_put(struct req *r)
{
	json_t *body, *out = NULL;
	bool created = false;
	int rc;

	if (!api_name_valid(r->params[0])) {
		http_reply_problem(r, 422, "name", "webhook names match [a-z0-9][a-z0-9._-]{0,62}");
		return;
	}
	if ((body = http_json_body(r)) == NULL)
		return;
	if (body_ok(r, body)) {
		rc = store_webhook_put(r->app->db, r->auth.name, r->params[0],
				       json_string_value(json_object_get(body, "url")),
				       json_object_get(body, "events"),
				       json_string_value(json_object_get(body, "secret")), &created,
				       &out);
		if (rc)
			http_reply_err(r, rc, NULL);
		else
			http_reply_json(r, created ? 201 : 200, out);
	}
	json_decref(body);
}

void api_webhook_get(struct req *r)
{
	json_t *out = NULL;
	int rc = store_webhook_get(r->app->db, r->params[0], &out);

	if (rc == RAMP_ENOTFOUND)
		http_reply_problem(r, 404, "name", "no webhook %s", r->params[0]);
	else if (rc)
		http_reply_err(r, rc, NULL);
	else
		http_reply_json(r, 200, out);
}

void api_webhooks_list(struct req *r)
{
	struct page p;
	struct api_page pa;
	int rc;

	if (api_page_args(r, API_CURSOR_NAME, &pa) != 0)
		return;
	rc = store_webhook_list(r->app->db, pa.limit, pa.after, &p);
	if (rc)
		http_reply_err(r, rc, NULL);
	else
		api_reply_page(r, &p);
}

void api_webhook_delete(struct req *r)
{
	int rc = store_webhook_delete(r->app->db, r->auth.name, r->params[0]);

	if (rc == RAMP_ENOTFOUND)
		http_reply_problem(r, 404, "name", "no webhook %s", r->params[0]);
	else if (rc)
		http_reply_err(r, rc, NULL);
	else
		http_reply_empty(r, 204);
}
