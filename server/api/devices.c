/*
 * devices.c - device registration (single, bulk all-or-nothing, enroll),
 * listing by label selector, PATCH/DELETE, and cohorts (named selectors).
 */
#include "api/api.h"

#include "auth/auth.h"
#include "common/hex.h"
#include "domain/device_id.h"
#include "domain/fields.h"
#include "domain/selector.h"
#include "engine/notify.h"
#include "store/ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BULK_MAX 10000

/* Checks a {k: v} label map at path; numbers are accepted as their text.
 * Rewrites numbers to strings in place. 0 or RAMP_EINVAL with err. */
static int check_labels(json_t *labels, const char *path, bool allow_null,
			struct ramp_err *err)
{
	const char *k;
	json_t *v;
	void *tmp;
	char field[160], num[64];

	if (!json_is_object(labels))
		return ramp_err_set(err, RAMP_EINVAL, path, "must be an object of strings");
	json_object_foreach_safe(labels, tmp, k, v) {
		snprintf(field, sizeof(field), "%s.%s", path, k);
		if (!selector_label_key_valid(k) || strcmp(k, "platform") == 0)
			return ramp_err_set(err, RAMP_EINVAL, field,
					    strcmp(k, "platform") == 0
						    ? "platform is set by the platform field"
						    : "invalid label key");
		if (json_is_null(v) && allow_null)
			continue;
		if (json_is_integer(v) || json_is_real(v)) {
			if (json_is_integer(v))
				snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
			else
				snprintf(num, sizeof(num), "%.15g", json_real_value(v));
			json_object_set_new(labels, k, json_string(num));
			continue;
		}
		if (!json_is_string(v) || !selector_label_value_valid(json_string_value(v)))
			return ramp_err_set(err, RAMP_EINVAL, field,
					    "label values are strings of [A-Za-z0-9._:-], up to 63");
	}
	return 0;
}

/* Validates one registration object; prefix is "" or "[i]". */
static int check_device(json_t *d, const char *prefix, struct ramp_err *err)
{
	static const char *const allowed[] = {"id", "platform", "labels", NULL};
	char field[64];

	if (!json_is_object(d))
		return ramp_err_set(err, RAMP_EINVAL, prefix, "a device must be an object");
	if (fields_check(d, allowed, prefix, err))
		return RAMP_EINVAL;
	snprintf(field, sizeof(field), "%s%sid", prefix, *prefix ? "." : "");
	if (!api_device_id_valid(json_string_value(json_object_get(d, "id"))))
		return ramp_err_set(err, RAMP_EINVAL, field,
				    "id is required and must match " DEVICE_ID_RULE);
	snprintf(field, sizeof(field), "%s%splatform", prefix, *prefix ? "." : "");
	if (!api_name_valid(json_string_value(json_object_get(d, "platform"))))
		return ramp_err_set(err, RAMP_EINVAL, field,
				    "platform is required and must match [a-z0-9][a-z0-9._-]{0,62}");
	if (json_object_get(d, "labels") == NULL)
		return 0;
	snprintf(field, sizeof(field), "%s%slabels", prefix, *prefix ? "." : "");
	return check_labels(json_object_get(d, "labels"), field, false, err);
}

static int cmp_ids(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Rejects an id given twice in one request. */
static int check_unique(json_t *arr, struct ramp_err *err)
{
	size_t n = json_array_size(arr);
	const char **ids = malloc(n * sizeof(*ids));
	int rc = 0;

	if (ids == NULL)
		return RAMP_ENOMEM;
	for (size_t i = 0; i < n; i++)
		ids[i] = json_string_value(json_object_get(json_array_get(arr, i), "id"));
	qsort(ids, n, sizeof(*ids), cmp_ids);
	for (size_t i = 1; i < n && rc == 0; i++)
		if (strcmp(ids[i - 1], ids[i]) == 0)
			rc = ramp_err_set(err, RAMP_ECONFLICT, "id",
					  "device %s appears twice in the request", ids[i]);
	free(ids);
	return rc;
}

/* Issues tokens: each item gets token_hash (stored) and the answer gets the token. */
static json_t *issue_tokens(json_t *arr)
{
	json_t *out = json_array();
	size_t i;
	json_t *d;

	json_array_foreach(arr, i, d) {
		char tok[AUTH_TOKEN_LEN + 1], hx[65];
		unsigned char h[32];
		if (auth_new_token(tok) != 0) {
			json_decref(out);
			return NULL;
		}
		auth_hash(tok, h);
		hex_encode(hx, h, 32);
		json_object_set_new(d, "token_hash", json_string(hx));
		json_array_append_new(out, json_pack("{s:O, s:s}", "id", json_object_get(d, "id"),
						     "token", tok));
	}
	return out;
}

/* The devices of arr ([{id, ...}]) into the snapshot before the 201. */
static void changed_new(struct app *app, json_t *arr)
{
	size_t n = json_array_size(arr);
	const char **ids = calloc(n + 1, sizeof(*ids));

	if (ids == NULL) {
		snapshot_changed(app); /* loaded whole soon; polls miss meanwhile */
		return;
	}
	for (size_t i = 0; i < n; i++)
		ids[i] = json_string_value(json_object_get(json_array_get(arr, i), "id"));
	changed_devices(app, ids, n);
	free(ids);
}

static void register_devices(struct req *r, bool allow_bulk)
{
	json_t *body = http_json_body(r), *arr, *tokens = NULL;
	struct ramp_err err;
	bool bulk;
	int rc = 0;

	if (body == NULL)
		return;
	ramp_err_clear(&err);
	bulk = json_is_array(body);
	if (bulk && !allow_bulk) {
		http_reply_problem(r, 422, NULL, "enroll registers one device; send an object");
		goto out;
	}
	arr = bulk ? json_incref(body) : json_pack("[O]", body);
	if (bulk && (json_array_size(arr) == 0 || json_array_size(arr) > BULK_MAX)) {
		http_reply_problem(r, 400, NULL, "a bulk registration holds 1 to %d devices", BULK_MAX);
		json_decref(arr);
		goto out;
	}
	for (size_t i = 0; rc == 0 && i < json_array_size(arr); i++) {
		char prefix[24] = "";
		if (bulk)
			snprintf(prefix, sizeof(prefix), "[%zu]", i);
		rc = check_device(json_array_get(arr, i), prefix, &err);
	}
	if (rc == 0)
		rc = check_unique(arr, &err);
	if (rc == 0 && (tokens = issue_tokens(arr)) == NULL)
		rc = RAMP_EINTERNAL;
	if (rc == 0)
		rc = store_devices_create(r->app->db, r->auth.name, arr, &err);
	if (rc == 0)
		changed_new(r->app, arr);
	json_decref(arr);
	if (rc) {
		http_reply_err(r, rc, &err);
	} else if (bulk) {
		http_reply_json(r, 201, json_pack("{s:I, s:O}", "created",
						  (json_int_t)json_array_size(tokens),
						  "devices", tokens));
	} else {
		http_reply_json(r, 201, json_incref(json_array_get(tokens, 0)));
	}
	json_decref(tokens);
out:
	json_decref(body);
}

void api_devices_create(struct req *r)
{
	register_devices(r, true);
}

void api_enroll(struct req *r)
{
	register_devices(r, false);
}

/* Parses ?selector=; replies 400 and returns RAMP_EINVAL when malformed. */
static int query_selector(struct req *r, const char *text, struct selector **sel)
{
	struct ramp_err err;

	*sel = NULL;
	if (text == NULL || *text == '\0')
		return 0;
	if (selector_parse(text, sel, &err) != 0) {
		http_reply_problem(r, 400, "selector", "%s", err.msg);
		return RAMP_EINVAL;
	}
	return 0;
}

static void list_devices(struct req *r, const char *seltext)
{
	struct selector *sel;
	struct device_view view = {api_stuck_after_s(r->app), -1};
	const char *stuck = http_query(r, "stuck");
	struct page p;
	struct api_page pa;
	int rc;

	if (api_page_args(r, API_CURSOR_DEVICE, &pa) != 0)
		return;
	if (stuck && strcmp(stuck, "true") != 0 && strcmp(stuck, "false") != 0) {
		http_reply_problem(r, 400, "stuck", "stuck must be true or false");
		return;
	}
	if (stuck)
		view.stuck = strcmp(stuck, "true") == 0;
	if (query_selector(r, seltext, &sel) != 0)
		return;
	rc = store_devices_list(r->app->db, sel, pa.limit, pa.after, &view, &p);
	selector_free(sel);
	api_reply_page(r, rc, &p);
}

void api_devices_list(struct req *r)
{
	list_devices(r, http_query(r, "selector"));
}

void api_device_get(struct req *r)
{
	json_t *d = NULL;
	int rc = store_device_get(r->app->db, r->params[0], api_stuck_after_s(r->app), &d);

	if (rc == RAMP_ENOTFOUND)
		api_reply_not_found(r, "id", "device", r->params[0]);
	else if (rc)
		http_reply_err(r, rc, NULL);
	else
		http_reply_json(r, 200, d);
}

static int check_pins(json_t *pins, struct ramp_err *err)
{
	const char *m;
	json_t *ver;

	if (!json_is_object(pins))
		return ramp_err_set(err, RAMP_EINVAL, "pins", "must be an object of model: version");
	json_object_foreach(pins, m, ver) {
		if (!api_name_valid(m) || !(json_is_null(ver) || (json_is_string(ver) &&
		    json_string_length(ver) > 0 && json_string_length(ver) <= 128)))
			return ramp_err_set(err, RAMP_EINVAL, "pins",
					    "pins map model names to versions (null unpins)");
	}
	return 0;
}

static int check_patch(json_t *body, struct ramp_err *err)
{
	static const char *const allowed[] = {"labels", "platform", "pins", NULL};
	json_t *v;

	if (!json_is_object(body) || json_object_size(body) == 0)
		return ramp_err_set(err, RAMP_EINVAL, NULL,
				    "body must be an object with labels, platform or pins");
	if (fields_check(body, allowed, NULL, err))
		return RAMP_EINVAL;
	if ((v = json_object_get(body, "labels")) && check_labels(v, "labels", true, err))
		return RAMP_EINVAL;
	v = json_object_get(body, "platform");
	if (v && !api_name_valid(json_string_value(v)))
		return ramp_err_set(err, RAMP_EINVAL, "platform",
				    "must match [a-z0-9][a-z0-9._-]{0,62}");
	if ((v = json_object_get(body, "pins")) && check_pins(v, err))
		return RAMP_EINVAL;
	return 0;
}

void api_device_patch(struct req *r)
{
	json_t *body = http_json_body(r), *out = NULL;
	struct ramp_err err;
	int rc;

	if (body == NULL)
		return;
	ramp_err_clear(&err);
	rc = check_patch(body, &err);
	if (rc == 0)
		rc = store_device_patch(r->app->db, r->auth.name, r->params[0], body,
					 api_stuck_after_s(r->app), &out);
	if (rc == RAMP_ENOTFOUND)
		api_reply_not_found(r, "id", "device", r->params[0]);
	else if (rc)
		http_reply_err(r, rc, &err);
	else {
		changed_device(r->app, r->params[0]);
		http_reply_json(r, 200, out);
	}
	json_decref(body);
}

/* The device's tokens stop working on this replica before the 204, and no
 * telemetry authenticated before the delete is stored after it (auth.h). */
void api_device_delete(struct req *r)
{
	uint64_t rv = auth_revoke_begin(r->params[0], NULL);
	int rc;

	if (rv == 0) {
		http_reply_err(r, RAMP_ENOMEM, NULL);
		return;
	}
	ingest_barrier();
	rc = store_device_delete(r->app->db, r->auth.name, r->params[0]);
	if (rc) {
		auth_revoke_cancel(rv);
		if (rc == RAMP_ENOTFOUND)
			api_reply_not_found(r, "id", "device", r->params[0]);
		else
			http_reply_err(r, rc, NULL);
		return;
	}
	auth_revoke_done(rv, changed_device(r->app, r->params[0]));
	http_reply_empty(r, 204);
}

void api_cohort_put(struct req *r)
{
	json_t *body, *out = NULL;
	const char *seltext;
	struct selector *sel = NULL;
	struct ramp_err err;
	bool created = false;
	int rc;

	if (!api_name_valid(r->params[0])) {
		http_reply_problem(r, 422, "name", "cohort names match [a-z0-9][a-z0-9._-]{0,62}");
		return;
	}
	if ((body = http_json_body(r)) == NULL)
		return;
	seltext = json_string_value(json_object_get(body, "selector"));
	if (!json_is_object(body) || seltext == NULL || json_object_size(body) != 1) {
		http_reply_problem(r, 422, "selector", "body must be {\"selector\": \"<label selector>\"}");
		goto out;
	}
	if (selector_parse(seltext, &sel, &err) != 0) {
		http_reply_problem(r, 422, "selector", "%s", err.msg);
		goto out;
	}
	rc = store_cohort_put(r->app->db, r->auth.name, r->params[0], seltext, &created, &out);
	if (rc)
		http_reply_err(r, rc, NULL);
	else
		http_reply_json(r, created ? 201 : 200, out);
out:
	selector_free(sel);
	json_decref(body);
}

void api_cohort_get(struct req *r)
{
	json_t *c = NULL;
	struct selector *sel = NULL;
	struct ramp_err err;
	int64_t n = 0;
	int rc = store_cohort_get(r->app->db, r->params[0], &c);

	if (rc == 0 && selector_parse(json_string_value(json_object_get(c, "selector")), &sel, &err) != 0)
		rc = RAMP_EINTERNAL;
	if (rc == 0)
		rc = store_devices_count(r->app->db, sel, &n);
	selector_free(sel);
	if (rc == RAMP_ENOTFOUND)
		api_reply_not_found(r, "name", "cohort", r->params[0]);
	else if (rc)
		http_reply_err(r, rc, NULL);
	if (rc) {
		json_decref(c);
		return;
	}
	json_object_set_new(c, "devices", json_integer(n));
	http_reply_json(r, 200, c);
}

void api_cohorts_list(struct req *r)
{
	struct page p;
	struct api_page pa;
	int rc;

	if (api_page_args(r, API_CURSOR_NAME, &pa) != 0)
		return;
	rc = store_cohort_list(r->app->db, pa.limit, pa.after, &p);
	api_reply_page(r, rc, &p);
}

void api_cohort_devices(struct req *r)
{
	json_t *c = NULL;
	int rc = store_cohort_get(r->app->db, r->params[0], &c);

	if (rc == RAMP_ENOTFOUND) {
		api_reply_not_found(r, "name", "cohort", r->params[0]);
		return;
	}
	if (rc) {
		http_reply_err(r, rc, NULL);
		return;
	}
	list_devices(r, arena_strdup(r->arena, json_string_value(json_object_get(c, "selector"))));
	json_decref(c);
}

void api_cohort_delete(struct req *r)
{
	int rc = store_cohort_delete(r->app->db, r->auth.name, r->params[0]);

	if (rc == RAMP_ENOTFOUND)
		api_reply_not_found(r, "name", "cohort", r->params[0]);
	else if (rc)
		http_reply_err(r, rc, NULL);
	else
		http_reply_empty(r, 204);
}
