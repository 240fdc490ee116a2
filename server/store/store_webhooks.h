/*
 * store_webhooks.h - the webhook list and its delivery outbox
 * (schema/008_webhooks.sql). Rows in webhook_deliveries are queued by a
 * trigger on rollout_events; the delivery thread (engine/webhooks.c) claims
 * due ones, sends them and records the outcome here.
 */
#ifndef RAMP_STORE_WEBHOOKS_H
#define RAMP_STORE_WEBHOOKS_H

#include "store/store.h"

#define WEBHOOK_MAX_ATTEMPTS 10
#define WEBHOOK_LEASE_S 600 /* a claimed row is due again after this (a lost sender) */

/* Creates or replaces webhook name (input already validated; events is a
 * JSON array of strings, headers an object of strings or NULL, both
 * borrowed); *out is the webhook without its secret or header values. */
int store_webhook_put(struct db *db, const char *actor, const char *name, const char *url,
		      json_t *events, const char *secret, json_t *headers, bool *created,
		      json_t **out);
/* The webhook with its 20 most recent deliveries; RAMP_ENOTFOUND. */
int store_webhook_get(struct db *db, const char *name, json_t **out);
int store_webhook_list(struct db *db, int limit, const char *after, struct page *out);
/* Deletes the webhook and its queued deliveries; RAMP_ENOTFOUND. */
int store_webhook_delete(struct db *db, const char *actor, const char *name);

/* Claims up to limit due deliveries (FOR UPDATE SKIP LOCKED, then leased
 * for WEBHOOK_LEASE_S so no other replica sends them meanwhile). *out: an
 * array of {id, type, url, secret, headers {name: value}, payload (the
 * exact body, text)}. */
int store_webhook_claim(struct db *db, int limit, json_t **out);
/* Records one attempt: delivered, or attempts+1 with next_at after a
 * backoff of 1 s, 2 s, 4 s ... capped at 5 min, given up after
 * WEBHOOK_MAX_ATTEMPTS (last_error kept). */
/* Makes a claimed delivery due again without counting an attempt. */
int store_webhook_release(struct db *db, int64_t id);
int store_webhook_result(struct db *db, int64_t id, bool ok, int http_status,
			 const char *error);

#endif
