/*
 * verify.c - the snapshot's invariant check: the current snapshot, changed
 * in place write after write, must answer exactly as one loaded whole from
 * the store now would - the same devices, the same tokens (and expiries),
 * and for every device the same answer text. Run by the randomised
 * equivalence test after each step and on demand by an operator
 * (GET /v1/admin/snapshot/verify).
 */
#include "snapshot/snapshot_int.h"

#include "common/hex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DIFFS_SHOWN 20

struct cmp {
	struct snapshot *fresh, *live;
	json_t *diffs;
	size_t ndiffs, ntokens;
	uint32_t live_idx;
	bool tok_found;
	const unsigned char *tok_h;
	int64_t tok_exp;
};

/* One difference: "<what> <id>: <how>". */
static void diff(struct cmp *c, const char *what, const char *id, const char *how)
{
	char line[256];

	if (c->ndiffs++ < DIFFS_SHOWN) {
		snprintf(line, sizeof(line), "%s %s: %s", what, id, how);
		json_array_append_new(c->diffs, json_string(line));
	}
}

/* counts the tokens still valid: a whole load leaves out expired ones */
static void count_token(void *ctx, const unsigned char h[32], int64_t expires)
{
	(void)h;
	if (expires == 0 || expires > (int64_t)time(NULL))
		(*(size_t *)ctx)++;
}

static void match_token(void *ctx, const unsigned char h[32], int64_t expires)
{
	struct cmp *c = ctx;

	if (memcmp(h, c->tok_h, 32) == 0 && expires == c->tok_exp)
		c->tok_found = true;
}

static void check_token(void *ctx, const unsigned char h[32], int64_t expires)
{
	struct cmp *c = ctx;

	c->ntokens++;
	c->tok_found = false;
	c->tok_h = h;
	c->tok_exp = expires;
	fleet_each_token(c->live->fleet, c->live_idx, match_token, c);
	if (!c->tok_found) {
		char hx[65];
		diff(c, "token", hex_encode(hx, h, 8), "missing or another expiry");
	}
}

static void check_fresh(void *ctx, uint32_t idx, const struct fleet_dev *d)
{
	struct cmp *c = ctx;
	uint32_t li = fleet_find(c->live->fleet, d->id);
	const struct snap_class *a, *b;
	size_t nf = 0, nl = 0;

	if (li == FLEET_NONE) {
		diff(c, "device", d->id, "missing");
		return;
	}
	a = c->fresh->classes[d->cls];
	b = c->live->classes[fleet_get(c->live->fleet, li)->cls];
	if (a->len != b->len || memcmp(a->text, b->text, a->len) != 0)
		diff(c, "device", d->id, "another answer");
	c->live_idx = li;
	fleet_each_token(c->fresh->fleet, idx, check_token, c);
	fleet_each_token(c->fresh->fleet, idx, count_token, &nf);
	fleet_each_token(c->live->fleet, li, count_token, &nl);
	if (nf != nl)
		diff(c, "device", d->id, "another number of tokens");
}

static void check_live(void *ctx, uint32_t idx, const struct fleet_dev *d)
{
	struct cmp *c = ctx;

	(void)idx;
	if (fleet_find(c->fresh->fleet, d->id) == FLEET_NONE)
		diff(c, "device", d->id, "deleted but still answered");
}

int snapshot_verify(struct app *app, json_t **out)
{
	struct cmp c = {0};
	int rc;

	*out = NULL;
	pthread_mutex_lock(&snapshot_build_mu);
	c.live = snapshot_acquire();
	c.fresh = c.live ? snapshot_load_whole(app, &rc) : NULL;
	if (c.live == NULL)
		rc = RAMP_EUNAVAIL;
	if (c.fresh && (c.diffs = json_array()) != NULL) {
		pthread_rwlock_rdlock(&c.live->lock);
		fleet_each(c.fresh->fleet, check_fresh, &c);
		fleet_each(c.live->fleet, check_live, &c);
		*out = json_pack("{s:b, s:I, s:I, s:I, s:I, s:o}", "ok", c.ndiffs == 0, "devices",
				 (json_int_t)fleet_size(c.live->fleet), "tokens",
				 (json_int_t)c.ntokens, "classes", (json_int_t)c.live->nclasses,
				 "count", (json_int_t)c.ndiffs, "differences", c.diffs);
		pthread_rwlock_unlock(&c.live->lock);
		rc = *out ? 0 : RAMP_ENOMEM;
	} else if (c.fresh) {
		rc = RAMP_ENOMEM;
	}
	snapshot_free(c.fresh);
	snapshot_release(c.live);
	pthread_mutex_unlock(&snapshot_build_mu);
	return rc;
}
