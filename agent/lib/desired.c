/*
 * desired.c - parses the desired-models answer into fixed-size fields.
 *
 * Strings that bound buffers (names, versions, digests) are length-checked
 * here so later code can copy them without surprises; the few unbounded ones
 * (url, manifest, signature) are malloc'd.
 */
#include "desired.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* Copies the string field key of obj into buf; required fields must exist. */
static int str_field(json_t *obj, const char *key, char *buf, size_t cap, int required,
		     const char *path, struct ramp_err *err)
{
	json_t *v = json_object_get(obj, key);
	char f[96];

	snprintf(f, sizeof(f), "%s%s%s", path, *path ? "." : "", key);
	if (v == NULL || json_is_null(v)) {
		buf[0] = 0;
		return required ? ramp_err_set(err, RAMP_EINVAL, f, "is required") : 0;
	}
	if (!json_is_string(v) || json_string_length(v) >= cap ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return ramp_err_set(err, RAMP_EINVAL, f, "must be a string of under %zu bytes", cap);
	memcpy(buf, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

/* A required string field, malloc'd into *out. */
static int dup_field(json_t *obj, const char *key, char **out, const char *path,
		     struct ramp_err *err)
{
	json_t *v = json_object_get(obj, key);
	char f[96];

	snprintf(f, sizeof(f), "%s%s%s", path, *path ? "." : "", key);
	if (!json_is_string(v))
		return ramp_err_set(err, RAMP_EINVAL, f, "is required (a string)");
	if ((*out = strdup(json_string_value(v))) == NULL)
		return ramp_err_set(err, RAMP_ENOMEM, f, "out of memory");
	return 0;
}

static int digest_ok(const char *d)
{
	if (strncmp(d, "sha256:", 7) != 0 || strlen(d) != 7 + 64)
		return 0;
	for (const char *p = d + 7; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return 0;
	return 1;
}

static int parse_previous(json_t *prev, struct desired_model *m, const char *path,
			  struct ramp_err *err)
{
	char p[64];

	if (prev == NULL || json_is_null(prev))
		return 0;
	snprintf(p, sizeof(p), "%s.previous", path);
	if (!json_is_object(prev))
		return ramp_err_set(err, RAMP_EINVAL, p, "must be an object or null");
	if (str_field(prev, "version", m->prev_version, sizeof(m->prev_version), 1, p, err) ||
	    str_field(prev, "digest", m->prev_digest, sizeof(m->prev_digest), 1, p, err))
		return err->code;
	return 0;
}

static int parse_model(json_t *e, struct desired_model *m, const char *path, struct ramp_err *err)
{
	json_t *size = json_object_get(e, "size"), *ro = json_object_get(e, "rollout");
	char f[96];

	m->size = -1;
	m->rollout_id = -1;
	if (!json_is_object(e))
		return ramp_err_set(err, RAMP_EINVAL, path, "must be an object");
	if (str_field(e, "model", m->model, sizeof(m->model), 1, path, err) ||
	    str_field(e, "version", m->version, sizeof(m->version), 1, path, err) ||
	    str_field(e, "platform", m->platform, sizeof(m->platform), 1, path, err) ||
	    str_field(e, "file", m->file, sizeof(m->file), 0, path, err) ||
	    str_field(e, "digest", m->digest, sizeof(m->digest), 1, path, err) ||
	    str_field(e, "key_id", m->key_id, sizeof(m->key_id), 0, path, err) ||
	    dup_field(e, "url", &m->url, path, err) ||
	    dup_field(e, "manifest", &m->manifest_b64, path, err) ||
	    dup_field(e, "signature", &m->signature, path, err) ||
	    parse_previous(json_object_get(e, "previous"), m, path, err))
		return err->code;
	snprintf(f, sizeof(f), "%s.digest", path);
	if (!digest_ok(m->digest))
		return ramp_err_set(err, RAMP_EINVAL, f, "must be sha256:<64 lowercase hex>");
	if (json_is_integer(size) && json_integer_value(size) >= 0)
		m->size = json_integer_value(size);
	if (json_is_object(ro) && json_is_integer(json_object_get(ro, "id")))
		m->rollout_id = json_integer_value(json_object_get(ro, "id"));
	/* optional: a delta this agent cannot read is ignored, the full file still serves */
	if (json_object_get(e, "delta") && !json_is_null(json_object_get(e, "delta"))) {
		struct ramp_err derr = {0};
		snprintf(f, sizeof(f), "%s.delta", path);
		m->has_delta = delta_offer_parse(json_object_get(e, "delta"), f, &m->delta, &derr) == 0;
	}
	return 0;
}

static void model_free(struct desired_model *m);

/* The optional "shadow" object: the same fields as an entry, the entry's
 * model and platform; anything this agent cannot read is ignored, as an
 * older agent would, and the served entry still stands. */
static void parse_shadow(json_t *e, struct desired_model *m, const char *path)
{
	json_t *sh = json_object_get(e, "shadow"), *copy, *f;
	struct ramp_err serr = {0};
	char p[64];

	if (!json_is_object(sh) || (f = json_object_get(sh, "fraction")) == NULL ||
	    !json_is_number(f) || !(json_number_value(f) > 0) || !(json_number_value(f) <= 1))
		return;
	if ((copy = json_copy(sh)) == NULL || (m->shadow = calloc(1, sizeof(*m->shadow))) == NULL) {
		json_decref(copy);
		return;
	}
	json_object_set(copy, "model", json_object_get(e, "model"));
	json_object_set(copy, "platform", json_object_get(e, "platform"));
	json_object_del(copy, "previous");
	json_object_del(copy, "delta");
	json_object_del(copy, "shadow");
	snprintf(p, sizeof(p), "%s.shadow", path);
	if (parse_model(copy, m->shadow, p, &serr) != 0) {
		model_free(m->shadow);
		free(m->shadow);
		m->shadow = NULL;
	} else {
		m->shadow_fraction = json_number_value(f);
	}
	json_decref(copy);
}

static void model_free(struct desired_model *m)
{
	free(m->url);
	free(m->manifest_b64);
	free(m->signature);
	if (m->shadow) {
		model_free(m->shadow);
		free(m->shadow);
	}
}

int desired_parse(const char *text, size_t len, struct desired *out, struct ramp_err *err)
{
	json_error_t je;
	json_t *root, *models, *e;
	size_t i;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (len > DESIRED_MAX_BYTES)
		return ramp_err_set(err, RAMP_ETOOBIG, "", "answer is larger than %d bytes",
				    DESIRED_MAX_BYTES);
	root = json_loadb(text, len, 0, &je);
	/* jansson leaves the text empty when it cannot allocate its lexer */
	if (root == NULL && (json_error_code(&je) == json_error_out_of_memory || je.text[0] == '\0'))
		return ramp_err_set(err, RAMP_ENOMEM, "", "out of memory");
	if (root == NULL || !json_is_object(root)) {
		json_decref(root);
		return ramp_err_set(err, RAMP_EMALFORMED, "", "answer is not a JSON object");
	}
	models = json_object_get(root, "models");
	if (str_field(root, "device_id", out->device_id, sizeof(out->device_id), 1, "", err)) {
		rc = err->code;
	} else if (!json_is_array(models)) {
		rc = ramp_err_set(err, RAMP_EINVAL, "models", "is required (an array)");
	} else if ((out->models = calloc(json_array_size(models) + 1, sizeof(*out->models))) == NULL) {
		rc = ramp_err_set(err, RAMP_ENOMEM, "models", "out of memory");
	}
	if (json_is_integer(json_object_get(root, "poll_after_s")))
		out->poll_after_s = (int)json_integer_value(json_object_get(root, "poll_after_s"));
	json_array_foreach(models, i, e) {
		char path[32];
		if (rc)
			break;
		/* a model held for its maintenance window with nothing to run
		 * yet ("version": null, "pending"): no entry to act on */
		if (json_is_object(e) && json_is_null(json_object_get(e, "version")) &&
		    json_is_object(json_object_get(e, "pending")))
			continue;
		snprintf(path, sizeof(path), "models[%zu]", i);
		struct desired_model *dm = &out->models[out->n++];
		rc = parse_model(e, dm, path, err);
		if (rc == 0)
			parse_shadow(e, dm, path);
	}
	json_decref(root);
	if (rc)
		desired_free(out);
	return rc;
}

void desired_free(struct desired *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n; i++)
		model_free(&d->models[i]);
	free(d->models);
	memset(d, 0, sizeof(*d));
}

const struct desired_model *desired_find(const struct desired *d, const char *model,
					 const char *platform)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct desired_model *m = &d->models[i];
		if ((model == NULL || !*model || strcmp(m->model, model) == 0) &&
		    (platform == NULL || !*platform || strcmp(m->platform, platform) == 0))
			return m;
	}
	return NULL;
}
