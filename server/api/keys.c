/*
 * keys.c - PUT/GET/DELETE /v1/keys: the public keys manifests are signed
 * with (ECDSA P-256 or Ed25519, PEM). DELETE revokes; a revoked key id is
 * kept (its signatures stay explainable) and can never hold another key.
 */
#include "api/api.h"

#include "domain/sig.h"
#include "engine/notify.h"

#include <string.h>

static bool key_id_ok(struct req *r)
{
	if (api_name_valid(r->params[0]))
		return true;
	http_reply_problem(r, 422, "key_id", "key ids match [a-z0-9][a-z0-9._-]{0,62}");
	return false;
}

/* The PEM from {"public_key": "..."}; replies 422 and returns NULL when absent. */
static const char *body_pem(struct req *r, json_t *body)
{
	static const char *const allowed[] = {"public_key", NULL};
	json_t *v;

	if (!json_is_object(body)) {
		http_reply_problem(r, 422, NULL, "body must be {\"public_key\": \"<PEM>\"}");
		return NULL;
	}
	if (api_reject_unknown(r, body, allowed, NULL))
		return NULL;
	v = json_object_get(body, "public_key");
	if (!json_is_string(v) || json_string_length(v) == 0) {
		http_reply_problem(r, 422, "public_key",
				   "public_key is required: a PEM ECDSA P-256 or Ed25519 key");
		return NULL;
	}
	return json_string_value(v);
}

void api_key_put(struct req *r)
{
	json_t *body, *out = NULL;
	const char *pem;
	char fp[65];
	enum sig_alg alg;
	struct ramp_err err;
	bool created = false;
	int rc;

	if (!key_id_ok(r) || (body = http_json_body(r)) == NULL)
		return;
	ramp_err_clear(&err);
	if ((pem = body_pem(r, body)) == NULL)
		goto out;
	rc = sig_key_check(pem, strlen(pem), &alg, fp, &err);
	if (rc == 0)
		rc = store_key_put(r->app->db, r->auth.name, r->params[0], pem, sig_alg_name(alg),
				   fp, &created, &out, &err);
	if (rc)
		http_reply_err(r, rc, &err);
	else
		http_reply_json(r, created ? 201 : 200, out);
out:
	json_decref(body);
}

void api_key_get(struct req *r)
{
	json_t *out = NULL;
	int rc = store_key_get(r->app->db, r->params[0], &out);

	if (rc == RAMP_ENOTFOUND)
		api_reply_not_found(r, "key_id", "signing key", r->params[0]);
	else if (rc)
		http_reply_err(r, rc, NULL);
	else
		http_reply_json(r, 200, out);
}

void api_keys_list(struct req *r)
{
	struct page p;
	struct api_page pa;
	int rc;

	if (api_page_args(r, API_CURSOR_NAME, &pa) != 0)
		return;
	rc = store_key_list(r->app->db, pa.limit, pa.after, &p);
	api_reply_page(r, rc, &p);
}

void api_key_delete(struct req *r)
{
	bool changed = false;
	int rc = store_key_revoke(r->app->db, r->auth.name, r->params[0], &changed);

	if (rc == RAMP_ENOTFOUND) {
		api_reply_not_found(r, "key_id", "signing key", r->params[0]);
		return;
	}
	if (rc) {
		http_reply_err(r, rc, NULL);
		return;
	}
	/* a manifest signed only by this key can no longer be installed */
	if (changed)
		changed_catalog(r->app);
	http_reply_empty(r, 204);
}
