/*
 * webhooks.h - the webhook delivery thread. Rollout events reach the
 * outbox (webhook_deliveries) through a trigger in the engine's own
 * transaction; this thread drains it on its own, so a slow or dead
 * receiver never blocks the engine. Each POST carries
 * X-Ramp-Signature: sha256=<hex HMAC-SHA256 of the body with the secret>.
 */
#ifndef RAMP_WEBHOOKS_H
#define RAMP_WEBHOOKS_H

#include "app.h"

#include <stddef.h>

/* Starts the delivery thread. 0, or RAMP_EINTERNAL (logged). */
int webhooks_start(struct app *app);
/* Stops and joins it (finishing the POST in flight); safe when never started. */
void webhooks_stop(void);
/* Writes "sha256=<64 hex>" for body under secret into out (>= 72 bytes). */
void webhooks_sign(const char *secret, const char *body, size_t len, char *out, size_t outlen);

#endif
