/*
 * common.c - helpers shared by the API handlers: list paging and page
 * replies, 404s, unknown fields in a body, name and device id checks.
 */
#include "api/api.h"
#include "domain/device_id.h"
#include "domain/fields.h"
#include "domain/units.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ECHO_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-"

/* ?limit=: default 100, 1..1000; RAMP_EINVAL (after a 400) when bad. */
static int page_limit(struct req *r)
{
	const char *v = http_query(r, "limit");
	int64_t n;

	if (v == NULL)
		return 100;
	if (units_parse_int(v, 1, 1000, &n) != 0) {
		http_reply_problem(r, 400, "limit", "limit must be an integer from 1 to 1000");
		return RAMP_EINVAL;
	}
	return (int)n;
}

/* A sequence cursor: decimal digits only, 1..INT64_MAX. */
static bool seq_valid(const char *s, int64_t *out)
{
	char *end;
	long long n;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || *end || n < 1)
		return false;
	*out = n;
	return true;
}

int api_page_args(struct req *r, enum api_cursor kind, struct api_page *out)
{
	const char *a = http_query(r, "after");
	bool ok;

	memset(out, 0, sizeof(*out));
	if ((out->limit = page_limit(r)) < 0)
		return out->limit;
	if (a == NULL)
		return 0;
	switch (kind) {
	case API_CURSOR_NAME:
		ok = api_name_valid(a);
		break;
	case API_CURSOR_DEVICE:
		ok = api_device_id_valid(a);
		break;
	default:
		ok = seq_valid(a, &out->seq);
		break;
	}
	if (!ok) {
		http_reply_problem(r, 400, "after", "after must be a cursor from a page's \"next\"");
		return RAMP_EINVAL;
	}
	out->after = a;
	return 0;
}

void api_reply_page(struct req *r, int rc, struct page *p)
{
	json_t *j;

	if (rc) {
		http_reply_err(r, rc, NULL);
		return;
	}
	j = json_object();
	json_object_set_new(j, "items", p->items ? p->items : json_array());
	json_object_set_new(j, "next", p->next ? json_string(p->next) : json_null());
	p->items = NULL;
	page_free(p);
	http_reply_json(r, 200, j);
}

/* A name fit to be repeated in a reply: what a path segment names when it
 * is an API name, a device id, a digest or a number. */
static bool echo_safe(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr(ECHO_CHARS, s[i]))
			return false;
	return true;
}

void api_reply_not_found(struct req *r, const char *field, const char *what, const char *name)
{
	if (echo_safe(name))
		http_reply_problem(r, 404, field, "no %s %s", what, name);
	else
		http_reply_problem(r, 404, field, "no such %s", what);
}

bool api_reject_unknown(struct req *r, json_t *obj, const char *const allowed[],
			const char *prefix)
{
	struct ramp_err err;
	int rc = fields_check(obj, allowed, prefix, &err);

	if (rc == 0)
		return false;
	http_reply_err(r, rc, &err);
	return true;
}

int api_stuck_after_s(const struct app *app)
{
	int s = 10 * app->cfg.poll_interval_s;

	return s > 600 ? s : 600;
}

bool api_name_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 63)
		return false;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

bool api_device_id_valid(const char *s)
{
	return s != NULL && device_id_valid(s, strlen(s));
}
