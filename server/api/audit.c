/*
 * audit.c - the operator's checks (admin): GET /v1/audit, /v1/audit/verify
 * (the hash chain) and /v1/snapshot/verify (this replica's in-memory
 * snapshot against a fresh load from the database).
 */
#include "api/api.h"

#include "snapshot/snapshot.h"


void api_audit_list(struct req *r)
{
	struct api_page pa;
	struct page p;
	int rc;

	if (api_page_args(r, API_CURSOR_SEQ, &pa) != 0)
		return;
	rc = store_audit_list(r->app->db, pa.seq, pa.limit, &p);
	api_reply_page(r, rc, &p);
}

void api_audit_verify(struct req *r)
{
	bool ok;
	int64_t n, at;
	char why[128];
	int rc = store_audit_verify(r->app->db, &ok, &n, &at, why, sizeof(why));

	if (rc) {
		http_reply_err(r, rc, NULL);
		return;
	}
	if (ok)
		http_reply_json(r, 200, json_pack("{s:b, s:I}", "ok", 1, "entries", (json_int_t)n));
	else
		http_reply_json(r, 200, json_pack("{s:b, s:I, s:I, s:s}", "ok", 0, "entries",
						  (json_int_t)n, "broken_at", (json_int_t)at,
						  "reason", why));
}

/* Loads the snapshot whole beside the current one and compares: seconds
 * and a second copy of the fleet at a million devices, so admin only. */
void api_snapshot_verify(struct req *r)
{
	json_t *out;
	int rc = snapshot_verify(r->app, &out);

	if (rc)
		http_reply_err(r, rc, NULL);
	else
		http_reply_json(r, 200, out);
}
