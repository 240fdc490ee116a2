/*
 * webhooks.c - PUT/GET/DELETE /v1/webhooks: where rampd POSTs signed
 * rollout events (docs/webhooks.md). Every field is checked before
 * anything is stored; the secret is write-only.
 */
#include "api/api.h"

#include "domain/url.h"
#include "store/store_webhooks.h"

#include <string.h>
#include <strings.h>

#define WEBHOOK_HEADERS_MAX 8
#define WEBHOOK_HEADER_VALUE_MAX 4096
#define WEBHOOK_SECRET_MIN 16
#define WEBHOOK_SECRET_MAX 256

static const char *const event_types[] = {
	"created", "stage_started", "promoted", "breach", "inconclusive", "awaiting_approval",
	"approved", "paused", "resumed", "rolled_back", "aborted", "succeeded",
	"gitops.synced", "gitops.failed", /* docs/gitops.md */
	NULL,
};

static bool event_known(const char *s)
{
	for (int i = 0; event_types[i]; i++)
		if (strcmp(event_types[i], s) == 0)
			return true;
	return false;
}

/* Replies 422 naming "url" and returns false unless u parses (domain/url.c)
 * and, without RAMP_WEBHOOK_ALLOW_PRIVATE, names no loopback, private or
 * link-local address (names that resolve to one are refused at delivery). */
static bool url_ok(struct req *r, json_t *u)
{
	struct ramp_err err;
	struct url url;

	if (!json_is_string(u) || strlen(json_string_value(u)) != json_string_length(u)) {
		http_reply_problem(r, 422, "url", "url must be an http:// or https:// URL");
		return false;
	}
	if (url_parse(json_string_value(u), &url, &err) != 0) {
		http_reply_problem(r, 422, "url", "%s", err.msg);
		return false;
	}
	if (!r->app->cfg.webhook_allow_private && url_host_private(&url)) {
		http_reply_problem(r, 422, "url",
				   "url names a loopback, private or link-local address (%.64s);"
				   " rampd is started with RAMP_WEBHOOK_ALLOW_PRIVATE=1 to allow that",
				   url.host);
		return false;
	}
	return true;
}

static bool header_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Headers rampd sets itself on every delivery. */
static bool header_reserved(const char *k)
{
	static const char *const own[] = {"content-type", "content-length", "host", "user-agent",
					  "expect", "transfer-encoding", "connection", NULL};

	for (int i = 0; own[i]; i++)
		if (strcasecmp(k, own[i]) == 0)
			return true;
	return strncasecmp(k, "x-ramp-", 7) == 0;
}

/* Replies 422 and returns false unless h (may be NULL) is an object of at
 * most WEBHOOK_HEADERS_MAX header names to single-line values. */
static bool headers_ok(struct req *r, json_t *h)
{
	const char *k, *s;
	json_t *v;

	if (h == NULL)
		return true;
	if (!json_is_object(h) || json_object_size(h) > WEBHOOK_HEADERS_MAX) {
		http_reply_problem(r, 422, "headers", "headers must be an object of at most %d"
				   " header names to values", WEBHOOK_HEADERS_MAX);
		return false;
	}
	json_object_foreach(h, k, v) {
		size_t n = strlen(k);
		bool ok = n >= 1 && n <= 64 && !header_reserved(k);

		for (size_t i = 0; ok && i < n; i++)
			ok = header_name_char(k[i]);
		if (!ok) {
			http_reply_problem(r, 422, "headers", "headers: %.64s is not a header name"
					   " rampd may send (a token of up to 64 characters, not"
					   " Content-Type, Host, X-Ramp-* and the like)", k);
			return false;
		}
		s = json_string_value(v);
		n = s ? strlen(s) : 0;
		ok = s && n >= 1 && n <= WEBHOOK_HEADER_VALUE_MAX && n == json_string_length(v);
		for (size_t i = 0; ok && i < n; i++)
			ok = (s[i] >= 0x20 && s[i] < 0x7f) || s[i] == '\t';
		if (!ok) {
			http_reply_problem(r, 422, "headers", "headers.%.64s must be 1 to %d printable"
					   " ASCII characters on one line", k, WEBHOOK_HEADER_VALUE_MAX);
			return false;
		}
	}
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
	static const char *const allowed[] = {"url", "events", "secret", "headers", NULL};
	json_t *v;

	if (!json_is_object(body)) {
		http_reply_problem(r, 422, NULL,
				   "body must be {\"url\", \"events\", \"secret\", \"headers\"?}");
		return false;
	}
	if (api_reject_unknown(r, body, allowed, NULL))
		return false;
	if (!url_ok(r, json_object_get(body, "url")))
		return false;
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
	return headers_ok(r, json_object_get(body, "headers"));
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
				       json_string_value(json_object_get(body, "secret")),
				       json_object_get(body, "headers"), &created, &out);
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
		api_reply_not_found(r, "name", "webhook", r->params[0]);
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
	api_reply_page(r, rc, &p);
}

void api_webhook_delete(struct req *r)
{
	int rc = store_webhook_delete(r->app->db, r->auth.name, r->params[0]);

	if (rc == RAMP_ENOTFOUND)
		api_reply_not_found(r, "name", "webhook", r->params[0]);
	else if (rc)
		http_reply_err(r, rc, NULL);
	else
		http_reply_empty(r, 204);
}
