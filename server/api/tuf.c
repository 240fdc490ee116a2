/*
 * tuf.c - the TUF repository (docs/tuf.md): GET /v1/tuf/metadata/<file>
 * (root.json, N.root.json, timestamp.json, N.snapshot.json,
 * N.targets.json, N.<role>.json), GET /v1/tuf/targets/<model>/<version>/
 * <platform>/<sha256>.<file> (consistent target names, served from the
 * artifact store), PUT /v1/tuf/roles/<role> (the next signed root,
 * targets or delegated targets document) and the online keys.
 */
#include "api/api.h"

#include "domain/tuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static bool role_name_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n < 64 && s[0] != '.' &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* "root.json", "timestamp.json" (latest) or "N.<role>.json". */
static bool file_parse(const char *f, char role[64], int64_t *version)
{
	size_t n = strlen(f);
	char *end;

	if (n < 6 || n > 90 || strcmp(f + n - 5, ".json") != 0)
		return false;
	*version = -1;
	if (f[0] >= '1' && f[0] <= '9') {
		long long v = strtoll(f, &end, 10);

		if (*end != '.' || v < 1)
			return false;
		*version = v;
		f = end + 1;
		n = strlen(f);
	} else if (strcmp(f, "root.json") != 0 && strcmp(f, "timestamp.json") != 0) {
		return false;
	}
	if (n - 5 >= 64)
		return false;
	memcpy(role, f, n - 5);
	role[n - 5] = '\0';
	return role_name_ok(role);
}

void api_tuf_metadata(struct req *r)
{
	char role[64], *body = NULL;
	int64_t version;
	size_t len = 0;
	int rc;

	if (!file_parse(r->params[0], role, &version) ||
	    (version > 0 && !strcmp(role, "timestamp"))) {
		api_reply_not_found(r, "file", "metadata file", r->params[0]);
		return;
	}
	rc = store_tuf_get(r->app->db, role, version, &body, &len);
	if (rc == RAMP_ENOTFOUND)
		api_reply_not_found(r, "file", "metadata file", r->params[0]);
	else if (rc)
		http_reply_err(r, rc, NULL);
	else {
		http_add_header(r, "Cache-Control", "no-store");
		http_reply_text(r, 200, "application/json", body, len);
	}
}

/* "<64 hex>.<file>" becomes "sha256:<64 hex>" for the artifact store. */
void api_tuf_target(struct req *r)
{
	const char *f = r->params[3];
	char *digest;

	if (strlen(f) < 66 || strspn(f, "0123456789abcdef") != 64 || f[64] != '.') {
		api_reply_not_found(r, "path", "target", f);
		return;
	}
	digest = arena_alloc(r->arena, 72);
	if (digest == NULL) {
		http_reply_err(r, RAMP_ENOMEM, NULL);
		return;
	}
	snprintf(digest, 72, "sha256:%.64s", f);
	r->params[0] = digest;
	api_artifact_get(r);
}

/* The refusals domain/tuf.h names after the attack they stop. */
static bool is_attack(const char *field)
{
	static const char *const attacks[] = {"rollback", "freeze", "mix-and-match",
					      "arbitrary-software", "endless-data",
					      "threshold", "malformed", NULL};

	for (const char *const *a = attacks; *a; a++)
		if (!strcmp(field, *a))
			return true;
	return false;
}

void api_tuf_role_put(struct req *r)
{
	const char *role = r->params[0];
	struct ramp_err err;
	json_t *out = NULL;
	int rc;

	ramp_err_clear(&err);
	if (!role_name_ok(role) || !strcmp(role, "snapshot") || !strcmp(role, "timestamp")) {
		http_reply_problem(r, 422, "role",
				   "role must be root, targets or a delegated role name;"
				   " snapshot and timestamp are signed by rampd");
		return;
	}
	if (r->body == NULL || r->body_len == 0) {
		http_reply_problem(r, 422, NULL, "body must be a signed TUF metadata document");
		return;
	}
	rc = store_tuf_put(r->app->db, r->auth.name, role, r->body, r->body_len,
			   (int64_t)time(NULL), r->app->cfg.tuf_timestamp_ttl_s, &out, &err);
	if (rc == RAMP_EINVAL && is_attack(err.field))
		http_reply_problem_with(r, 422, err.field, json_pack("{s:s}", "attack", err.field),
					"%s", err.msg);
	else if (rc)
		http_reply_err(r, rc, err.code ? &err : NULL);
	else
		http_reply_json(r, 201, out);
}

void api_tuf_online_keys(struct req *r)
{
	json_t *out = NULL;
	int rc = store_tuf_online_keys(r->app->db, &out);

	if (rc)
		http_reply_err(r, rc, NULL);
	else
		http_reply_json(r, 200, out);
}

void api_tuf_online_key_new(struct req *r)
{
	const char *role = r->params[0];
	json_t *out = NULL;
	int rc;

	if (strcmp(role, "snapshot") != 0 && strcmp(role, "timestamp") != 0) {
		http_reply_problem(r, 422, "role", "role must be snapshot or timestamp");
		return;
	}
	rc = store_tuf_online_key_new(r->app->db, role, &out);
	if (rc)
		http_reply_err(r, rc, NULL);
	else
		http_reply_json(r, 201, out);
}
