/*
 * credentials.c - the credentials lifecycle beyond tokens.c: device token
 * rotation with a grace period (POST /v1/devices/{id}/token), and the
 * restrictions on self-enrollment (RAMP_ENROLL_ALLOWLIST, and
 * RAMP_ENROLL_REQUIRE_CERT: the attested-device path, where a client
 * certificate from RAMP_TLS_CLIENT_CA proves who enrolls).
 */
#include "api/api.h"

#include "auth/auth.h"
#include "common/hex.h"
#include "common/log.h"
#include "domain/units.h"
#include "engine/notify.h"
#include "snapshot/snapshot.h"
#include "store/ingest.h"
#include "http/tls.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#define GRACE_MAX (30 * 86400)

/* {"grace": duration} (optional, default 0); RAMP_EINVAL after replying when bad. */
static int read_grace(struct req *r, int64_t *grace)
{
	json_t *body, *v;
	int rc = 0;

	*grace = 0;
	if (r->body_len == 0)
		return 0;
	if ((body = http_json_body(r)) == NULL)
		return RAMP_EINVAL;
	v = json_object_get(body, "grace");
	if (!json_is_object(body) || json_object_size(body) > (v ? 1u : 0u)) {
		http_reply_problem(r, 422, NULL, "body must be {} or {\"grace\": \"<duration>\"}");
		rc = RAMP_EINVAL;
	} else if (v && json_is_integer(v)) {
		*grace = json_integer_value(v);
	} else if (v && !(json_is_string(v) &&
			  units_parse_duration(json_string_value(v), grace) == 0)) {
		*grace = -1;
	}
	if (rc == 0 && (*grace < 0 || *grace > GRACE_MAX)) {
		http_reply_problem(r, 422, "grace",
				   "grace must be a duration from 0 to 30d (90s, 30m, 1h, 1d or seconds)");
		rc = RAMP_EINVAL;
	}
	json_decref(body);
	return rc;
}

void api_device_token_rotate(struct req *r)
{
	char tok[AUTH_TOKEN_LEN + 1], hx[65];
	unsigned char h[32];
	uint64_t rv = 0, gen;
	int64_t grace;
	json_t *out = NULL;
	int rc;

	if (!api_device_id_valid(r->params[0])) {
		api_reply_not_found(r, "id", "device", r->params[0]);
		return;
	}
	if (read_grace(r, &grace) != 0)
		return;
	if (auth_new_token(tok) != 0) {
		http_reply_err(r, RAMP_EINTERNAL, NULL);
		return;
	}
	auth_hash(tok, h);
	hex_encode(hx, h, 32);
	/* without grace the old tokens die now: refused before the write, and
	 * after it by any snapshot that has not applied it, even if applying it
	 * below fails (the new token is answered from the database until then) */
	if (grace == 0 && (rv = auth_revoke_begin(r->params[0], NULL)) == 0) {
		http_reply_err(r, RAMP_ENOMEM, NULL);
		return;
	}
	if (rv)
		ingest_barrier(); /* groups the writer took before: committed first */
	rc = store_device_token_rotate(r->app->db, r->auth.name, r->params[0], hx, grace, &out);
	if (rc) {
		if (rv)
			auth_revoke_cancel(rv);
		if (rc == RAMP_ENOTFOUND)
			api_reply_not_found(r, "id", "device", r->params[0]);
		else
			http_reply_err(r, rc, NULL);
		return;
	}
	/* this replica's snapshot holds the new token (and the old ones'
	 * expiry) before the answer goes out; other replicas hear ramp_changed */
	gen = changed_device(r->app, r->params[0]);
	if (rv)
		auth_revoke_done(rv, gen);
	auth_cache_clear();
	json_object_set_new(out, "token", json_string(tok));
	http_reply_json(r, 201, out);
}

/* 1 when id matches a line of the allowlist file (ids or shell patterns,
 * '#' comments), 0 when not, RAMP_EIO (errno set) when the file cannot be read. */
static int allowlisted(const char *path, const char *id)
{
	FILE *f = fopen(path, "r");
	char line[512];
	int found = 0;

	if (f == NULL)
		return RAMP_EIO;
	while (!found && fgets(line, sizeof(line), f)) {
		char *p = line, *end;
		while (*p == ' ' || *p == '\t')
			p++;
		end = p + strcspn(p, "#\r\n");
		while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		*end = '\0';
		if (*p && fnmatch(p, id, 0) == 0)
			found = 1;
	}
	fclose(f);
	return found;
}

/* The id a self-enrollment asks for, or NULL (the handler then says why). */
static const char *enroll_id(struct req *r)
{
	json_t *body = json_loadb(r->body, r->body_len, 0, NULL);
	const char *id = json_string_value(json_object_get(body, "id"));
	const char *copy = id ? arena_strdup(r->arena, id) : NULL;

	json_decref(body);
	return copy;
}

void api_enroll_guarded(struct req *r)
{
	const struct config *cfg = &r->app->cfg;
	const struct tls_peer *peer;
	const char *id;
	int ok;

	if (r->auth.role != ROLE_ENROLL) {
		api_enroll(r); /* operators register whom they like */
		return;
	}
	peer = http_peer(r);
	if (cfg->enroll_require_cert && peer->state != TLS_PEER_VALID) {
		http_reply_problem(r, 403, "certificate",
				   "enrollment requires a client certificate issued by the device CA");
		return;
	}
	id = enroll_id(r);
	if (id && peer->state == TLS_PEER_VALID && !tls_peer_names(peer, id)) {
		http_reply_problem(r, 403, "id", "the client certificate is for device %s, not %s",
				   tls_peer_id(peer), id);
		return;
	}
	if (id && cfg->enroll_allowlist[0]) {
		ok = allowlisted(cfg->enroll_allowlist, id);
		if (ok < 0) {
			log_error("msg=\"could not read the enrollment allowlist\" path=\"%s\" error=\"%s\"",
				  cfg->enroll_allowlist, strerror(errno));
			http_reply_problem(r, 503, NULL, "enrollment allowlist unreadable");
			return;
		}
		if (!ok) {
			http_reply_problem(r, 403, "id", "device %s is not on the enrollment allowlist",
					   id);
			return;
		}
	}
	api_enroll(r);
}
