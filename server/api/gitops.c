/*
 * gitops.c - GET /v1/gitops (the reconciler's status, from the database so
 * any replica answers) and POST /v1/gitops/sync (a sync now; ?retry=true
 * also retries releases whose rollout rolled back). The sync webhook is a
 * public route that checks its own credentials: a GitHub-style
 * X-Hub-Signature-256 (HMAC-SHA256 of the body with the configured secret,
 * compared in constant time) or a bearer token of role ci, operator or
 * admin.
 */
#include "api/api.h"

#include "auth/auth.h"
#include "common/hex.h"
#include "engine/gitops.h"
#include "store/store_gitops.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

void api_gitops_status(struct req *r)
{
	json_t *out = NULL;
	int rc = store_gitops_status_get(r->app->db, &out);

	if (rc == RAMP_ENOTFOUND) {
		out = json_pack("{s:s}", "state", gitops_enabled() ? "pending" : "off");
		rc = out ? 0 : RAMP_ENOMEM;
	}
	if (rc) {
		http_reply_err(r, rc, NULL);
		return;
	}
	json_object_set_new(out, "enabled", json_boolean(gitops_enabled()));
	http_reply_json(r, 200, out);
}

/* The webhook secret: the setting, else the file's first line. */
static void secret(const struct config *cfg, char *out, size_t len)
{
	FILE *f;

	snprintf(out, len, "%s", cfg->gitops_webhook_secret);
	if (out[0] || cfg->gitops_webhook_secret_file[0] == '\0')
		return;
	if ((f = fopen(cfg->gitops_webhook_secret_file, "r")) == NULL)
		return;
	if (fgets(out, (int)len, f) == NULL)
		out[0] = '\0';
	out[strcspn(out, "\r\n")] = '\0';
	fclose(f);
}

static bool hmac_ok(struct req *r, const char *given)
{
	char key[512], want[7 + 65];
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	bool ok;

	secret(&r->app->cfg, key, sizeof(key));
	if (key[0] == '\0')
		return false;
	HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)(r->body ? r->body : ""),
	     r->body_len, mac, &maclen);
	memcpy(want, "sha256=", 7);
	hex_encode(want + 7, mac, maclen);
	ok = strlen(given) == strlen(want) && CRYPTO_memcmp(given, want, strlen(want)) == 0;
	OPENSSL_cleanse(key, sizeof(key));
	return ok;
}

/* 0 when the caller may ask for a sync; otherwise replied (401/403/503). */
static int authorize(struct req *r)
{
	const char *sig = http_header(r, "X-Hub-Signature-256");
	const char *h = http_header(r, "Authorization");
	int rc;

	if (sig) {
		if (hmac_ok(r, sig))
			return 0;
		http_reply_problem(r, 401, "X-Hub-Signature-256",
				   "signature does not match the configured webhook secret");
		return RAMP_EAUTH;
	}
	if (h == NULL || strncmp(h, "Bearer ", 7) != 0) {
		http_add_header(r, "WWW-Authenticate", "Bearer");
		http_reply_problem(r, 401, "Authorization",
				   "a ci token or an X-Hub-Signature-256 signature is required");
		return RAMP_EAUTH;
	}
	rc = auth_lookup(r->app, h + 7, r->arena, &r->auth);
	if (rc == RAMP_EAUTH) {
		http_add_header(r, "WWW-Authenticate", "Bearer");
		http_reply_problem(r, 401, "Authorization", "unknown, expired or revoked token");
		return rc;
	}
	if (rc) {
		http_reply_err(r, rc, NULL);
		return rc;
	}
	if (!(r->auth.role & (ROLE_CI | ROLES_OPERATE))) {
		http_reply_problem(r, 403, NULL, "role %s may not ask for a GitOps sync",
				   auth_role_name(r->auth.role));
		return RAMP_EFORBIDDEN;
	}
	return 0;
}

void api_gitops_sync(struct req *r)
{
	const char *retry = http_query(r, "retry");
	bool again = retry && (strcmp(retry, "true") == 0 || strcmp(retry, "1") == 0);

	if (authorize(r) != 0)
		return;
	if (!gitops_enabled()) {
		http_reply_problem(r, 409, NULL, "GitOps is off: RAMP_GITOPS_REPO is not set");
		return;
	}
	gitops_sync_now(again);
	http_reply_json(r, 202, json_pack("{s:s, s:b}", "status", "sync requested", "retry", again));
}
