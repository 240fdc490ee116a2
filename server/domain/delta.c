/*
 * delta.c - parsers of delta metadata (delta.h). Pure: bytes or a JSON tree
 * in, a fixed-size struct or an error naming the field out.
 */
#include "domain/delta.h"

#include "domain/fields.h"

#include <stdio.h>
#include <string.h>

bool delta_digest_ok(const char *s)
{
	return s && strncmp(s, "sha256:", 7) == 0 && strlen(s) == 71 &&
	       strspn(s + 7, "0123456789abcdef") == 64;
}

static void path_of(char *buf, size_t cap, const char *prefix, const char *key)
{
	snprintf(buf, cap, "%s%s%s", prefix ? prefix : "", prefix && *prefix ? "." : "", key);
}

static int digest_field(const json_t *obj, const char *key, const char *prefix, char out[72],
			struct ramp_err *err)
{
	const char *v = json_string_value(json_object_get(obj, key));
	char f[128];

	path_of(f, sizeof(f), prefix, key);
	if (!delta_digest_ok(v) || strlen(v) != json_string_length(json_object_get(obj, key)))
		return ramp_err_set(err, RAMP_EINVAL, f, "must be sha256:<64 lowercase hex>");
	memcpy(out, v, 72);
	return 0;
}

static int format_field(const json_t *obj, const char *prefix, struct ramp_err *err)
{
	const json_t *v = json_object_get(obj, "format");
	char f[128];

	path_of(f, sizeof(f), prefix, "format");
	if (!json_is_string(v) || strcmp(json_string_value(v), DELTA_FORMAT) != 0 ||
	    json_string_length(v) != strlen(DELTA_FORMAT))
		return ramp_err_set(err, RAMP_EINVAL, f, "must be \"" DELTA_FORMAT "\"");
	return 0;
}

int delta_offer_parse(const json_t *obj, const char *prefix, struct delta_offer *out,
		      struct ramp_err *err)
{
	static const char *const allowed[] = {"from", "url", "digest", "size", "format", NULL};
	const json_t *url = json_object_get(obj, "url"), *size = json_object_get(obj, "size");
	char f[128];

	memset(out, 0, sizeof(*out));
	if (!json_is_object(obj))
		return ramp_err_set(err, RAMP_EINVAL, prefix ? prefix : "", "must be an object");
	if (fields_check(obj, allowed, prefix, err) || format_field(obj, prefix, err) ||
	    digest_field(obj, "from", prefix, out->from, err) ||
	    digest_field(obj, "digest", prefix, out->digest, err))
		return err->code;
	path_of(f, sizeof(f), prefix, "url");
	if (!json_is_string(url) || json_string_length(url) == 0 ||
	    json_string_length(url) >= sizeof(out->url) ||
	    strlen(json_string_value(url)) != json_string_length(url))
		return ramp_err_set(err, RAMP_EINVAL, f, "must be a string of under %zu bytes",
				    sizeof(out->url));
	memcpy(out->url, json_string_value(url), json_string_length(url) + 1);
	path_of(f, sizeof(f), prefix, "size");
	if (!json_is_integer(size) || json_integer_value(size) <= 0)
		return ramp_err_set(err, RAMP_EINVAL, f, "must be a positive integer");
	out->size = json_integer_value(size);
	return 0;
}

int delta_meta_parse(const char *text, size_t len, struct delta_meta *out, struct ramp_err *err)
{
	static const char *const allowed[] = {"from", "to", "digest", "format", NULL};
	json_error_t je;
	json_t *root;
	int rc;

	memset(out, 0, sizeof(*out));
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL && json_error_code(&je) == json_error_out_of_memory)
		return ramp_err_set(err, RAMP_ENOMEM, "", "out of memory");
	if (!json_is_object(root)) {
		json_decref(root);
		return ramp_err_set(err, RAMP_EMALFORMED, "", "body must be a JSON object");
	}
	if ((rc = fields_check(root, allowed, NULL, err)) == 0 &&
	    (rc = format_field(root, NULL, err)) == 0 &&
	    (rc = digest_field(root, "from", NULL, out->from, err)) == 0 &&
	    (rc = digest_field(root, "to", NULL, out->to, err)) == 0 &&
	    (rc = digest_field(root, "digest", NULL, out->digest, err)) == 0) {
		if (strcmp(out->from, out->to) == 0)
			rc = ramp_err_set(err, RAMP_EINVAL, "to", "must differ from from");
		else if (strcmp(out->digest, out->from) == 0 || strcmp(out->digest, out->to) == 0)
			rc = ramp_err_set(err, RAMP_EINVAL, "digest",
					  "must be the delta's own digest, not from or to");
	}
	json_decref(root);
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}

static int str_into(const json_t *obj, const char *key, const char *prefix, char *out, size_t cap,
		    struct ramp_err *err)
{
	const json_t *v = json_object_get(obj, key);
	char f[128];

	out[0] = '\0';
	if (v == NULL)
		return 0;
	path_of(f, sizeof(f), prefix, key);
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= cap ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return ramp_err_set(err, RAMP_EINVAL, f, "must be a string of 1 to %zu bytes", cap - 1);
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int int_into(const json_t *obj, const char *key, const char *prefix, int64_t *out,
		    struct ramp_err *err)
{
	const json_t *v = json_object_get(obj, key);
	char f[128];

	*out = -1;
	if (v == NULL)
		return 0;
	path_of(f, sizeof(f), prefix, key);
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return ramp_err_set(err, RAMP_EINVAL, f, "must be an integer of at least 0");
	*out = json_integer_value(v);
	return 0;
}

int delta_report_parse(const json_t *obj, const char *prefix, struct delta_report *out,
		       struct ramp_err *err)
{
	static const char *const allowed[] = {"from", "bytes", "saved", "fallback", NULL};
	int rc;

	memset(out, 0, sizeof(*out));
	out->bytes = out->saved = -1;
	if (!json_is_object(obj))
		return ramp_err_set(err, RAMP_EINVAL, prefix ? prefix : "", "must be an object");
	if ((rc = fields_check(obj, allowed, prefix, err)) != 0 ||
	    (rc = str_into(obj, "from", prefix, out->from, sizeof(out->from), err)) != 0 ||
	    (rc = str_into(obj, "fallback", prefix, out->fallback, sizeof(out->fallback), err)) != 0 ||
	    (rc = int_into(obj, "bytes", prefix, &out->bytes, err)) != 0 ||
	    (rc = int_into(obj, "saved", prefix, &out->saved, err)) != 0) {
		memset(out, 0, sizeof(*out));
		return rc;
	}
	if (!out->fallback[0] == (out->bytes < 0 || out->saved < 0)) {
		memset(out, 0, sizeof(*out));
		return ramp_err_set(err, RAMP_EINVAL, prefix ? prefix : "",
				    "must hold either bytes and saved, or fallback");
	}
	return 0;
}

json_t *delta_report_json(const struct delta_report *r)
{
	json_t *j = json_object();

	if (j == NULL)
		return NULL;
	if (r->from[0])
		json_object_set_new(j, "from", json_string(r->from));
	if (r->fallback[0])
		json_object_set_new(j, "fallback", json_string(r->fallback));
	else {
		json_object_set_new(j, "bytes", json_integer(r->bytes));
		json_object_set_new(j, "saved", json_integer(r->saved));
	}
	return j;
}
