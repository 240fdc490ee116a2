/*
 * store_credentials.c - device token rotation: a new token for a device,
 * its older tokens cut to a grace period (removed at once when it is 0),
 * the snapshot told (ramp_changed), one audit entry, one transaction.
 */
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int store_device_token_rotate(struct db *db, const char *actor, const char *id,
			      const char *hash_hex, int64_t grace_s, json_t **out)
{
	struct dbconn *c;
	PGresult *r;
	char grace[32], n[32] = "", notice[160];
	const char *p[4] = {id, grace, hash_hex, n};
	json_t *detail;
	int rc;

	*out = NULL;
	snprintf(grace, sizeof(grace), "%lld", (long long)grace_s);
	if ((rc = db_tx_begin(db, &c)) != 0)
		return rc;
	/* the device row lock serialises rotations of one device */
	rc = db_query(c, &r, "SELECT 1 FROM devices WHERE id = $1 FOR UPDATE", 1, p);
	if (rc == 0) {
		rc = PQntuples(r) == 1 ? 0 : RAMP_ENOTFOUND;
		PQclear(r);
	}
	if (rc == 0)
		rc = db_query(c, &r,
			      "SELECT coalesce(max(substring(name FROM ':([0-9]+)$')::bigint), 0) + 1"
			      " FROM tokens WHERE device_id = $1 AND role = 'device'",
			      1, p);
	if (rc == 0) {
		snprintf(n, sizeof(n), "%s", PQgetvalue(r, 0, 0));
		PQclear(r);
	}
	if (rc == 0)
		rc = db_query(c, NULL,
			      "DELETE FROM tokens WHERE device_id = $1 AND role = 'device'"
			      " AND ($2::bigint = 0 OR expires_at <= now())",
			      2, p);
	if (rc == 0)
		rc = db_query(c, NULL,
			      "UPDATE tokens SET expires_at = least(coalesce(expires_at, 'infinity'),"
			      " now() + make_interval(secs => $2::bigint))"
			      " WHERE device_id = $1 AND role = 'device'",
			      2, p);
	if (rc == 0)
		rc = store_json_one(c,
				    "WITH t AS (INSERT INTO tokens (name, role, hash, device_id)"
				    " VALUES ('device:' || $1 || ':' || $4, 'device', decode($3, 'hex'), $1)"
				    " RETURNING name, created_at)"
				    " SELECT json_build_object('id', $1::text, 'name', t.name,"
				    " 'created_at', t.created_at, 'grace_s', $2::bigint,"
				    " 'previous_valid_until', (SELECT max(expires_at) FROM tokens"
				    "  WHERE device_id = $1 AND role = 'device'))::text FROM t",
				    4, p, out);
	if (rc == 0)
		rc = store_changed(c, (snprintf(notice, sizeof(notice), "d %s", id), notice));
	if (rc == 0) {
		detail = json_pack("{s:s, s:I}", "token", n, "grace_s", (json_int_t)grace_s);
		rc = store_audit(c, actor, "device.token.rotate", id, detail);
		json_decref(detail);
	}
	rc = db_tx_end(db, c, rc);
	if (rc) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}
