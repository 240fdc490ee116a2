/*
 * authz.c - who a request is and whether it may go on (authz.h): a bearer
 * token (looked up through auth/, from memory on an MHD thread, from the
 * database on a worker), or a client certificate standing in for a device
 * or enroll token, a device token checked against its certificate, the
 * route's roles, then the token's rate limit (ratelimit.c). Runs on the
 * MHD threads and the workers; it replies itself when it refuses.
 */
#include "http/authz.h"

#include "auth/auth.h"
#include "http/conns.h"
#include "http/gate.h"
#include "http/ratelimit.h"
#include "http/tls.h"
#include "snapshot/snapshot.h"

#include <stdint.h>
#include <stdio.h>

static void set_auth(struct req *r, int role, const char *prefix, const char *id)
{
	r->auth.role = role;
	r->auth.device_id = arena_strdup(r->arena, id);
	r->auth.name = arena_printf(r->arena, "%s:%s", prefix, id);
}

/* The snapshot has device id and no deletion on this replica overrules it
 * (a delete answers before the snapshot follows: the certificate of a
 * device deleted a moment ago must not log in, as its token would not). */
static bool snapshot_vouches(struct snapshot *s, const char *id)
{
	uint64_t gen;

	return snapshot_has_device(s, id, &gen) && !auth_device_overruled(id, gen);
}

/* A certificate may name a device that is not registered (any more): it logs
 * in only when the device is in the request's snapshot. A miss is brought up
 * to date on a worker (snapshot_fresh() limits how often), so certificates
 * of deleted devices cannot make every poll read the database. 1 known (or no
 * snapshot yet: 503 later), 0 unknown, -1 deferred to a worker. */
static int cert_device_known(struct req *r, const char *id)
{
	struct snapshot *s = http_snapshot(r);

	if (s == NULL || snapshot_vouches(s, id))
		return 1;
	if (http_defer(r))
		return -1;
	s = http_snapshot_fresh(r, id);
	return s == NULL || snapshot_vouches(s, id);
}

/* No bearer token: a client certificate from RAMP_TLS_CLIENT_CA may stand in
 * for a device token (RAMP_DEVICE_AUTH=cert) or an enroll token (the
 * attested-device path). Replies and returns false when it cannot. */
static bool cert_login(struct req *r, const struct tls_peer *peer)
{
	const char *id = tls_peer_id(peer);
	int mode = r->app->cfg.device_auth;

	/* what this request stores later is refused if a revocation numbered
	 * after this began meanwhile (as auth_lookup_in() does for tokens) */
	r->auth.epoch = auth_epoch();
	if (id && (r->route->roles & ROLE_DEVICE) && mode == CONFIG_DEVICE_AUTH_CERT) {
		int known = cert_device_known(r, id);
		if (known < 0)
			return false; /* asked again on a worker */
		if (known == 0) {
			http_reply_problem(r, 403, "certificate",
					   "the client certificate names device %s, which is not registered",
					   id);
			return false;
		}
		set_auth(r, ROLE_DEVICE, "device", id);
		return true;
	}
	if (id && (r->route->flags & ROUTE_CERT_ENROLL)) {
		set_auth(r, ROLE_ENROLL, "cert", id);
		return true;
	}
	http_add_header(r, "WWW-Authenticate", "Bearer");
	if (peer->state == TLS_PEER_UNTRUSTED)
		http_reply_problem(r, 401, "certificate",
				   "client certificate not issued by the configured CA, or out of date");
	else if (id && mode == CONFIG_DEVICE_AUTH_BOTH && (r->route->roles & ROLE_DEVICE))
		http_reply_problem(r, 401, "Authorization",
				   "missing bearer token: devices need their token and their certificate");
	else
		http_reply_problem(r, 401, "Authorization", "missing bearer token");
	return false;
}

/* A device token under RAMP_DEVICE_AUTH=cert|both must come with a
 * certificate for the same device: none is 401, another device's is 403. */
static bool device_cert_check(struct req *r, const struct tls_peer *peer)
{
	if (r->app->cfg.device_auth == CONFIG_DEVICE_AUTH_TOKEN)
		return true;
	if (peer->state != TLS_PEER_VALID) {
		http_reply_problem(r, 401, "certificate",
				   peer->state == TLS_PEER_UNTRUSTED
					   ? "client certificate not issued by the configured CA, or out of date"
					   : "devices must present their client certificate");
		return false;
	}
	if (!tls_peer_names(peer, r->auth.device_id)) {
		http_reply_problem(r, 403, "certificate",
				   "client certificate is for device %s, not %s", tls_peer_id(peer),
				   r->auth.device_id);
		return false;
	}
	return true;
}

/* 429 with Retry-After when the token's bucket is empty. */
static bool rate_check(struct req *r)
{
	int role = __builtin_ctz((unsigned)r->auth.role);
	int wait = ratelimit_take(role, r->auth.name, (int64_t)(r->started * 1e9));
	char ra[16];

	if (wait == 0)
		return true;
	snprintf(ra, sizeof(ra), "%d", wait);
	http_add_header(r, "Retry-After", ra);
	http_reply_problem(r, 429, NULL, "rate limit for role %s exceeded (%g requests/s); retry in %d s",
			   auth_role_name(r->auth.role), ratelimit_setting(role).per_s, wait);
	return false;
}

bool http_authorize(struct req *r)
{
	const struct tls_peer *peer;
	const char *h, *tok;
	int rc, only = ROLES_ANY;

	if (r->route->roles == ROLES_PUBLIC)
		return true;
	peer = http_peer(r);
	h = http_header(r, "Authorization");
	if ((tok = gate_credential(h, &only)) == NULL) {
		if (!cert_login(r, peer))
			return false;
	} else {
		/* on an MHD thread only what memory knows; a worker asks the database */
		rc = auth_lookup_in(r->app, http_snapshot(r), tok, r->arena, &r->auth,
				    r->in_worker);
		if (rc == RAMP_EBUSY && http_defer(r))
			return false;
		if (rc == RAMP_EAUTH) {
			http_add_header(r, "WWW-Authenticate", "Bearer");
			http_reply_problem(r, 401, "Authorization", "unknown, expired or revoked token");
			return false;
		}
		if (rc != 0) {
			http_reply_err(r, rc, NULL);
			return false;
		}
		if (gate_authz(r->route, r->auth.role, only) == 401) {
			http_add_header(r, "WWW-Authenticate", "Bearer");
			http_reply_problem(r, 401, "Authorization", "%s",
					   only == ROLE_DEVICE
						   ? "a TargetToken must be a device token"
						   : "a GatewayToken must be an ingest or admin token");
			return false;
		}
		if (r->auth.role == ROLE_DEVICE && !device_cert_check(r, peer))
			return false;
	}
	if (gate_authz(r->route, r->auth.role, ROLES_ANY) == 403) {
		http_reply_problem(r, 403, NULL, "role %s may not %s %s",
				   auth_role_name(r->auth.role), r->method, r->route->pattern);
		return false;
	}
	return rate_check(r);
}

