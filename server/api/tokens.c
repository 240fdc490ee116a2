/*
 * tokens.c - POST/GET/DELETE /v1/tokens (admin). A token is shown once,
 * in the answer that creates it.
 */
#include "api/api.h"

#include "auth/auth.h"
#include "domain/units.h"
#include "store/ingest.h"

#include <string.h>

void api_tokens_create(struct req *r)
{
	json_t *body = http_json_body(r), *out = NULL, *v;
	const char *name, *role;
	char tok[AUTH_TOKEN_LEN + 1];
	unsigned char h[32];
	int64_t expires = 0;
	int rc, rbit;

	if (body == NULL)
		return;
	if (!json_is_object(body)) {
		http_reply_problem(r, 422, NULL, "body must be an object with name and role");
		goto out;
	}
	name = json_string_value(json_object_get(body, "name"));
	role = json_string_value(json_object_get(body, "role"));
	if (!api_name_valid(name)) {
		http_reply_problem(r, 422, "name", "name must match [a-z0-9][a-z0-9._-]{0,62}");
		goto out;
	}
	rbit = auth_role_from_name(role);
	if (rbit == 0 || rbit == ROLE_DEVICE) {
		http_reply_problem(r, 422, "role", "role must be one of %s", ROLE_TOKEN_NAMES);
		goto out;
	}
	v = json_object_get(body, "expires_in");
	if (v && !(json_is_integer(v) && json_integer_value(v) > 0) &&
	    !(json_is_string(v) && units_parse_duration(json_string_value(v), &expires) == 0 &&
	      expires > 0)) {
		http_reply_problem(r, 422, "expires_in", "expires_in must be a positive duration");
		goto out;
	}
	if (json_is_integer(v))
		expires = json_integer_value(v);
	if (auth_new_token(tok) != 0) {
		http_reply_err(r, RAMP_EINTERNAL, NULL);
		goto out;
	}
	auth_hash(tok, h);
	rc = store_token_create(r->app->db, r->auth.name, name, role, h, expires, &out);
	if (rc == RAMP_ECONFLICT) {
		http_reply_problem(r, 409, "name", "token %s already exists", name);
		goto out;
	}
	if (rc) {
		http_reply_err(r, rc, NULL);
		goto out;
	}
	json_object_set_new(out, "token", json_string(tok));
	json_object_del(out, "device_id");
	http_reply_json(r, 201, out);
out:
	json_decref(body);
}

void api_tokens_list(struct req *r)
{
	struct page p;
	struct api_page pa;
	int rc;

	if (api_page_args(r, API_CURSOR_NAME, &pa) != 0)
		return;
	rc = store_token_list(r->app->db, pa.limit, pa.after, &p);
	api_reply_page(r, rc, &p);
}

void api_tokens_delete(struct req *r)
{
	uint64_t rv;
	int rc;

	if (strcmp(r->params[0], "admin") == 0) {
		http_reply_problem(r, 409, "name",
				   "the bootstrap admin token is set by RAMP_ADMIN_TOKEN; change it there");
		return;
	}
	/* refused from now on, cached or not, and its telemetry on the way
	 * to the writer is not stored (auth.h) */
	if ((rv = auth_revoke_begin(NULL, r->params[0])) == 0) {
		http_reply_err(r, RAMP_ENOMEM, NULL);
		return;
	}
	ingest_barrier();
	rc = store_token_delete(r->app->db, r->auth.name, r->params[0]);
	if (rc) {
		auth_revoke_cancel(rv);
		if (rc == RAMP_ENOTFOUND)
			api_reply_not_found(r, "name", "token named", r->params[0]);
		else
			http_reply_err(r, rc, NULL);
		return;
	}
	auth_revoke_done(rv, 0);
	http_reply_empty(r, 204);
}
