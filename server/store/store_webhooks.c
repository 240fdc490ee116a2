/*
 * store_webhooks.c - the webhook list (with audit entries) and the outbox
 * the delivery thread drains. Secrets are stored for signing and never
 * leave the store except to the delivery thread.
 */
#include "store/store_webhooks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOOK_JSON                                                                          \
	"json_build_object('name', w.name, 'url', w.url, 'events', to_json(w.events),"     \
	" 'header_names', (SELECT coalesce(json_agg(k ORDER BY k), '[]'::json)"            \
	"  FROM jsonb_object_keys(w.headers) k),"                                          \
	" 'created_by', w.created_by, 'created_at', w.created_at,"                         \
	" 'updated_at', w.updated_at)"

int store_webhook_put(struct db *db, const char *actor, const char *name, const char *url,
		      json_t *events, const char *secret, json_t *headers, bool *created,
		      json_t **out)
{
	char *ev = json_dumps(events, JSON_COMPACT);
	char *hd = headers ? json_dumps(headers, JSON_COMPACT) : strdup("{}");
	const char *p[6] = {name, url, ev, secret, actor ? actor : "system", hd};
	struct dbconn *c;
	json_t *detail = NULL, *hook;
	int rc;

	*out = NULL;
	if (ev == NULL || hd == NULL) {
		free(ev);
		free(hd);
		return RAMP_ENOMEM;
	}
	if ((rc = db_tx_begin(db, &c)) != 0)
		goto done;
	/* xmax = 0 only for a freshly inserted row: tells created from replaced */
	rc = store_json_one(c,
			    "WITH w AS (INSERT INTO webhooks (name, url, events, secret, created_by,"
			    " headers)"
			    " SELECT $1, $2, array(SELECT jsonb_array_elements_text($3::jsonb)), $4, $5,"
			    " $6::jsonb"
			    " ON CONFLICT (name) DO UPDATE SET url = EXCLUDED.url,"
			    " events = EXCLUDED.events, secret = EXCLUDED.secret,"
			    " headers = EXCLUDED.headers, updated_at = now()"
			    " RETURNING *, xmax = 0 AS fresh)"
			    " SELECT json_build_object('hook', " HOOK_JSON ", 'fresh', w.fresh)::text"
			    " FROM w",
			    6, p, out);
	if (rc)
		goto out;
	*created = json_is_true(json_object_get(*out, "fresh"));
	hook = json_incref(json_object_get(*out, "hook"));
	json_decref(*out);
	*out = hook;
	/* header values are credentials: the audit log names them only */
	detail = json_pack("{s:s, s:O, s:O}", "url", url, "events", events, "header_names",
			   json_object_get(hook, "header_names"));
	rc = store_audit(c, actor, *created ? "webhook.create" : "webhook.update", name, detail);
out:
	rc = db_tx_end(db, c, rc);
	if (rc && *out) {
		json_decref(*out);
		*out = NULL;
	}
	json_decref(detail);
done:
	free(ev);
	free(hd);
	return rc;
}

int store_webhook_get(struct db *db, const char *name, json_t **out)
{
	return store_get(db,
			 "SELECT (" HOOK_JSON "::jsonb || jsonb_build_object('deliveries',"
			 " coalesce((SELECT jsonb_agg(x ORDER BY x.id DESC) FROM"
			 "  (SELECT d.id, d.event_id, d.event_type AS type, d.attempts,"
			 "   d.created_at, d.next_at, d.delivered_at, d.failed_at,"
			 "   d.last_status, d.last_error FROM webhook_deliveries d"
			 "   WHERE d.webhook = w.name ORDER BY d.id DESC LIMIT 20) x), '[]'::jsonb)))::text"
			 " FROM webhooks w WHERE w.name = $1",
			 name, out);
}

int store_webhook_list(struct db *db, int limit, const char *after, struct page *out)
{
	return store_page(db, "SELECT " HOOK_JSON "::text FROM webhooks w WHERE w.name > $1"
			      " ORDER BY w.name LIMIT $2::int", after, limit, "name", out);
}

int store_webhook_delete(struct db *db, const char *actor, const char *name)
{
	return store_delete(db, actor, "DELETE FROM webhooks WHERE name = $1", name,
			    "webhook.delete", NULL);
}

int store_webhook_claim(struct db *db, int limit, json_t **out)
{
	char lim[16], lease[16];
	const char *p[2] = {lim, lease};
	struct dbconn *c;
	int rc;

	*out = NULL;
	snprintf(lim, sizeof(lim), "%d", limit);
	snprintf(lease, sizeof(lease), "%d", WEBHOOK_LEASE_S);
	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	/* one statement, one transaction: the rows are locked while claimed */
	rc = store_json_rows(c,
			     "WITH due AS (SELECT id FROM webhook_deliveries"
			     " WHERE delivered_at IS NULL AND failed_at IS NULL AND next_at <= now()"
			     " ORDER BY next_at, id LIMIT $1::int FOR UPDATE SKIP LOCKED),"
			     " claimed AS (UPDATE webhook_deliveries d"
			     " SET next_at = now() + make_interval(secs => $2::int)"
			     " FROM due WHERE d.id = due.id RETURNING d.*)"
			     " SELECT json_build_object('id', c.id, 'type', c.event_type, 'url', w.url,"
			     " 'secret', w.secret, 'headers', w.headers, 'payload', c.payload::text)::text"
			     " FROM claimed c JOIN webhooks w ON w.name = c.webhook ORDER BY c.id",
			     2, p, out);
	db_release(db, c);
	if (rc == 0 && *out == NULL)
		*out = json_array();
	return *out ? rc : RAMP_ENOMEM;
}

int store_webhook_result(struct db *db, int64_t id, bool ok, int http_status,
			 const char *error)
{
	char sid[32], st[16], max[16];
	const char *p[5] = {sid, ok ? "t" : "f", http_status > 0 ? st : NULL,
			    ok ? NULL : (error ? error : "failed"), max};
	struct dbconn *c;
	int rc;

	snprintf(sid, sizeof(sid), "%lld", (long long)id);
	snprintf(st, sizeof(st), "%d", http_status);
	snprintf(max, sizeof(max), "%d", WEBHOOK_MAX_ATTEMPTS);
	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = db_query(c, NULL,
		      "UPDATE webhook_deliveries SET attempts = attempts + 1,"
		      " last_status = $3::int,"
		      " last_error = CASE WHEN $2::bool THEN last_error ELSE $4 END,"
		      " delivered_at = CASE WHEN $2::bool THEN now() END,"
		      " failed_at = CASE WHEN NOT $2::bool AND attempts + 1 >= $5::int"
		      "  THEN now() END,"
		      " next_at = now() + make_interval(secs => least(300, power(2, attempts)))"
		      " WHERE id = $1::bigint",
		      5, p);
	db_release(db, c);
	return rc;
}

int store_webhook_release(struct db *db, int64_t id)
{
	char sid[32];
	const char *p[1] = {sid};
	struct dbconn *c;
	int rc;

	snprintf(sid, sizeof(sid), "%lld", (long long)id);
	if ((rc = db_acquire(db, &c)) != 0)
		return rc;
	rc = db_query(c, NULL, "UPDATE webhook_deliveries SET next_at = now() WHERE id = $1::bigint",
		      1, p);
	db_release(db, c);
	return rc;
}
