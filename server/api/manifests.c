/*
 * manifests.c - POST/GET /v1/manifests, GET /v1/models[/{name}],
 * GET /v1/models/{name}/versions/{version}, PUT /v1/models/{name}/stable.
 *
 * A post is checked in full before anything is written: the envelope, the
 * manifest text (domain/manifest), the key, the signature over the exact
 * bytes of the "manifest" string (domain/sig), the expiry. Only then does the
 * store see it, and the store decides 201 / 200 / 409 in one transaction.
 */
#include "api/api.h"

#include "domain/manifest.h"
#include "domain/sig.h"
#include "engine/notify.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct envelope {
	const char *text;
	size_t len;
	const char *signature, *key_id;
};

/* Reads {"manifest","signature","key_id"}; replies 422 and returns RAMP_EINVAL when bad. */
static int read_envelope(struct req *r, json_t *body, struct envelope *e)
{
	static const char *const allowed[] = {"manifest", "signature", "key_id", NULL};
	json_t *v;

	if (!json_is_object(body)) {
		http_reply_problem(r, 422, NULL,
				   "body must be {\"manifest\", \"signature\", \"key_id\"}");
		return RAMP_EINVAL;
	}
	if (api_reject_unknown(r, body, allowed, NULL))
		return RAMP_EINVAL;
	v = json_object_get(body, "manifest");
	if (!json_is_string(v) || json_string_length(v) == 0) {
		http_reply_problem(r, 422, "manifest", "manifest is required: the manifest text");
		return RAMP_EINVAL;
	}
	e->text = json_string_value(v);
	e->len = json_string_length(v);
	e->signature = json_string_value(json_object_get(body, "signature"));
	if (e->signature == NULL || *e->signature == '\0') {
		http_reply_problem(r, 422, "signature",
				   "unsigned manifest: signature is required (base64)");
		return RAMP_EINVAL;
	}
	e->key_id = json_string_value(json_object_get(body, "key_id"));
	if (!api_name_valid(e->key_id)) {
		http_reply_problem(r, 422, "key_id",
				   "key_id is required and must match [a-z0-9][a-z0-9._-]{0,62}");
		return RAMP_EINVAL;
	}
	return 0;
}

static int parse_manifest(struct req *r, const struct envelope *e, struct manifest *m)
{
	struct ramp_err err;
	int rc;

	ramp_err_clear(&err);
	rc = manifest_parse(e->text, e->len, m, &err);
	if (rc == 0)
		return 0;
	if (rc == RAMP_ETOOBIG)
		http_reply_problem(r, 413, "manifest", "%s", err.msg);
	else if (rc == RAMP_EINVAL || rc == RAMP_EMALFORMED)
		http_reply_problem(r, 422, err.field[0] ? arena_printf(r->arena, "manifest.%s",
								     err.field)
							: "manifest",
				   "%s", err.msg[0] ? err.msg : "invalid manifest");
	else
		http_reply_err(r, rc, NULL);
	return rc;
}

/* The key must exist, be unrevoked, and have signed exactly these bytes. */
static int verify(struct req *r, const struct envelope *e)
{
	struct ramp_err err;
	json_t *key = NULL;
	const char *pem;
	int rc = store_key_get(r->app->db, e->key_id, &key);

	ramp_err_clear(&err);
	if (rc == RAMP_ENOTFOUND) {
		http_reply_problem(r, 422, "key_id", "unknown signing key %s", e->key_id);
		return RAMP_EINVAL;
	}
	if (rc) {
		http_reply_err(r, rc, NULL);
		return rc;
	}
	if (!json_is_null(json_object_get(key, "revoked_at"))) {
		http_reply_problem(r, 422, "key_id", "signing key %s is revoked", e->key_id);
		json_decref(key);
		return RAMP_EINVAL;
	}
	pem = json_string_value(json_object_get(key, "public_key"));
	rc = sig_verify(pem, strlen(pem), e->text, e->len, e->signature, &err);
	json_decref(key);
	if (rc) {
		http_reply_problem(r, 422, "signature", "%s",
				   err.msg[0] ? err.msg : "signature does not verify");
		return RAMP_EINVAL;
	}
	return 0;
}

void api_manifest_urls(const struct app *app, json_t *record)
{
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(record, "variants"), i, v) {
		const char *d = json_string_value(json_object_get(v, "digest"));
		char url[256];
		if (d && json_is_null(json_object_get(v, "url"))) {
			snprintf(url, sizeof(url), "%s/v1/artifacts/%s", app->server_url, d);
			json_object_set_new(v, "url", json_string(url));
		}
	}
}

static void store_post(struct req *r, const struct envelope *e, const struct manifest *m)
{
	char hex[65], exp[32];
	struct manifest_post mp = {m->name, m->version, e->text, hex, manifest_doc_json(m),
				   NULL, e->key_id, e->signature};
	struct ramp_err err;
	json_t *out = NULL;
	enum manifest_outcome outcome = MANIFEST_UNCHANGED;
	int rc;

	ramp_err_clear(&err);
	sig_sha256_hex(e->text, e->len, hex);
	if (m->expires) {
		manifest_iso8601(m->expires, exp);
		mp.expires_at = exp;
	}
	rc = mp.doc ? store_manifest_post(r->app->db, r->auth.name, &mp, &outcome, &out, &err)
		    : RAMP_ENOMEM;
	json_decref(mp.doc);
	if (rc) {
		http_reply_err(r, rc, &err);
		return;
	}
	/* a new signature becomes what devices are sent (key rotation); a new
	 * version is what devices pinned to it were waiting for */
	if (outcome != MANIFEST_UNCHANGED)
		changed_catalog(r->app);
	api_manifest_urls(r->app, out);
	http_reply_json(r, outcome == MANIFEST_CREATED ? 201 : 200, out);
}

/* The manifest posted as itself (YAML, or a JSON document with "model"):
 * the body is the signed text, the signature and key id ride in headers
 * (X-Ramp-Signature, X-Ramp-Key-Id) or the query (?signature=&key_id=). */
static int read_bare(struct req *r, struct envelope *e)
{
	e->text = r->body;
	e->len = r->body_len;
	e->signature = http_header(r, "X-Ramp-Signature");
	if (e->signature == NULL)
		e->signature = http_query(r, "signature");
	e->key_id = http_header(r, "X-Ramp-Key-Id");
	if (e->key_id == NULL)
		e->key_id = http_query(r, "key_id");
	if (e->len == 0) {
		http_reply_problem(r, 400, "manifest", "request body is empty; expected a manifest");
		return RAMP_EINVAL;
	}
	if (e->signature == NULL || *e->signature == '\0') {
		http_reply_problem(r, 422, "signature",
				   "unsigned manifest: send the base64 signature in X-Ramp-Signature");
		return RAMP_EINVAL;
	}
	if (!api_name_valid(e->key_id)) {
		http_reply_problem(r, 422, "key_id",
				   "key_id is required (X-Ramp-Key-Id) and must match [a-z0-9][a-z0-9._-]{0,62}");
		return RAMP_EINVAL;
	}
	return 0;
}

void api_manifest_post(struct req *r)
{
	struct manifest m = {0};
	struct envelope e;
	json_t *body;
	int rc;

	if (!http_check_ctype(r, true))
		return;
	if (http_body_is_yaml(r)) {
		body = NULL;
		rc = read_bare(r, &e);
	} else {
		if ((body = http_json_body(r)) == NULL)
			return;
		rc = json_object_get(body, "model") && !json_object_get(body, "manifest")
			     ? read_bare(r, &e)
			     : read_envelope(r, body, &e);
	}
	if (rc != 0 || parse_manifest(r, &e, &m) != 0 ||
	    verify(r, &e) != 0)
		goto out;
	if (m.expires && m.expires <= (int64_t)time(NULL)) {
		char exp[32];
		manifest_iso8601(m.expires, exp);
		http_reply_problem(r, 422, "manifest.model.expires", "manifest expired at %s", exp);
		goto out;
	}
	store_post(r, &e, &m);
out:
	manifest_free(&m);
	json_decref(body);
}

void api_manifests_list(struct req *r)
{
	const char *model = http_query(r, "model");
	struct api_page pa;
	struct page p;
	int rc;

	if (api_page_args(r, API_CURSOR_SEQ, &pa) != 0)
		return;
	if (model && *model == '\0')
		model = NULL;
	if (model && !api_name_valid(model)) {
		http_reply_problem(r, 400, "model", "model must match [a-z0-9][a-z0-9._-]{0,62}");
		return;
	}
	rc = store_manifest_list(r->app->db, model, pa.limit, pa.seq, &p);
	api_reply_page(r, rc, &p);
}

void api_model_version(struct req *r)
{
	json_t *out = NULL;
	int rc = store_manifest_get(r->app->db, r->params[0], r->params[1], &out);

	if (rc == RAMP_ENOTFOUND) {
		http_reply_problem(r, 404, "version", "no manifest for %s version %s", r->params[0],
				   r->params[1]);
		return;
	}
	if (rc) {
		http_reply_err(r, rc, NULL);
		return;
	}
	api_manifest_urls(r->app, out);
	http_reply_json(r, 200, out);
}

/* The version from {"version": "..."}; replies 422 and returns NULL when bad. */
static const char *body_version(struct req *r, json_t *body)
{
	static const char *const allowed[] = {"version", NULL};
	const char *v;

	if (!json_is_object(body)) {
		http_reply_problem(r, 422, NULL, "body must be {\"version\": \"<version>\"}");
		return NULL;
	}
	if (api_reject_unknown(r, body, allowed, NULL))
		return NULL;
	v = json_string_value(json_object_get(body, "version"));
	if (v == NULL || *v == '\0' || strlen(v) > 128) {
		http_reply_problem(r, 422, "version",
				   "version is required: a posted manifest's version");
		return NULL;
	}
	return v;
}

void api_model_stable(struct req *r)
{
	json_t *body, *out = NULL;
	const char *version;
	struct ramp_err err;
	bool changed = false;
	int rc;

	if (!api_name_valid(r->params[0])) {
		http_reply_problem(r, 422, "name", "model names match [a-z0-9][a-z0-9._-]{0,62}");
		return;
	}
	if ((body = http_json_body(r)) == NULL)
		return;
	ramp_err_clear(&err);
	if ((version = body_version(r, body)) == NULL)
		goto out;
	if ((rc = api_manifest_reachable(r, r->params[0], version, &err)) != 0) {
		http_reply_err(r, rc, &err);
		goto out;
	}
	rc = store_model_set_stable(r->app->db, r->auth.name, r->params[0], version, &changed,
				    &out, &err);
	if (rc) {
		http_reply_err(r, rc, &err);
		goto out;
	}
	if (changed)
		changed_catalog(r->app);
	http_reply_json(r, 200, json_pack("{s:s, s:s, s:O, s:O}", "model", r->params[0],
					  "stable_version", version, "updated_at",
					  json_object_get(out, "updated_at"), "updated_by",
					  json_object_get(out, "updated_by")));
	json_decref(out);
out:
	json_decref(body);
}

void api_model_get(struct req *r)
{
	json_t *out = NULL;
	int rc = store_model_get(r->app->db, r->params[0], &out);

	if (rc == RAMP_ENOTFOUND)
		api_reply_not_found(r, "name", "model", r->params[0]);
	else if (rc)
		http_reply_err(r, rc, NULL);
	else
		http_reply_json(r, 200, out);
}

void api_models_list(struct req *r)
{
	struct page p;
	struct api_page pa;
	int rc;

	if (api_page_args(r, API_CURSOR_NAME, &pa) != 0)
		return;
	rc = store_model_list(r->app->db, pa.limit, pa.after, &p);
	api_reply_page(r, rc, &p);
}
