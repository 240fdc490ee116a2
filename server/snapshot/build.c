/*
 * build.c - filling a snapshot from the store and changing it after a
 * write: the whole load (start-up, recovery) made off to the side and
 * swapped in, and the changes of one write applied in place - a device
 * (or a batch of them), the catalog, a rollout's new members - before the
 * write is answered. Another replica's writes arrive as notices
 * (snapshot_apply_notice). Changes and whole loads are serialised (build_mu)
 * so a load that read the database earlier never overwrites a later change.
 */
#include "snapshot/snapshot_int.h"

#include "common/arena.h"
#include "common/clock.h"
#include "common/hex.h"
#include "common/log.h"
#include "common/strmap.h"
#include "domain/sig.h"
#include "store/store.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

pthread_mutex_t snapshot_build_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_uint_least64_t started_gen; /* the number of the newest change begun */
static atomic_uint_least64_t fleet_gen;   /* bumped by every change of the device set */

uint64_t snapshot_started(void)
{
	return atomic_load(&started_gen);
}

uint64_t snapshot_fleet_changes(void)
{
	return atomic_load(&fleet_gen);
}

uint64_t snapshot_begin_change(void)
{
	return atomic_fetch_add(&started_gen, 1) + 1;
}

void snapshot_fleet_changed(void)
{
	atomic_fetch_add(&fleet_gen, 1);
}

/* --- the catalog --- */

static struct snap_model *model_of(struct catalog *c, const char *name)
{
	struct snap_model *m = strmap_get(c->models, name);

	if (m)
		return m;
	m = arena_calloc(c->arena, 1, sizeof(*m));
	if (m == NULL || (m->name = arena_strdup(c->arena, name)) == NULL ||
	    strmap_set(c->models, name, m) != 0)
		return NULL;
	return m;
}

/* a JSON text the catalog keeps (in owned); NULL when it does not parse */
static json_t *owned_json(struct catalog *c, const char *text)
{
	json_t *j = json_loads(text, 0, NULL);

	if (j && json_array_append_new(c->owned, j) != 0)
		return NULL;
	return j;
}

static int on_model(void *ctx, const char *name, const char *stable, const char *by_platform)
{
	struct load *l = ctx;
	struct snap_model *m = model_of(l->cat, name);

	if (m == NULL)
		return RAMP_ENOMEM;
	m->stable = stable ? arena_strdup(l->cat->arena, stable) : NULL;
	if (by_platform && (m->by_platform = owned_json(l->cat, by_platform)) == NULL)
		return RAMP_ENOMEM;
	return 0;
}

static int on_rollout_back(void *ctx, int64_t id, const char *platforms)
{
	struct catalog *c = ((struct load *)ctx)->cat;
	char key[32];
	struct snap_rollout *r;

	snprintf(key, sizeof(key), "%lld", (long long)id);
	if ((r = strmap_get(c->rollouts, key)) == NULL)
		return 0;
	return (r->back = owned_json(c, platforms)) != NULL ? 0 : RAMP_ENOMEM;
}

static int on_manifest(void *ctx, const char *model, const char *version, const char *text,
		       const char *signature, const char *key_id, const char *doc)
{
	struct catalog *c = ((struct load *)ctx)->cat;
	struct snap_manifest *m = arena_calloc(c->arena, 1, sizeof(*m));
	char *b64 = sig_base64_encode(text, strlen(text));
	json_t *d = json_loads(doc, 0, NULL);
	char key[256];

	if (m == NULL || b64 == NULL || d == NULL || json_array_append_new(c->owned, d) != 0) {
		free(b64);
		return RAMP_ENOMEM;
	}
	m->text_b64 = arena_strdup(c->arena, b64);
	free(b64);
	m->signature = arena_strdup(c->arena, signature);
	m->key_id = arena_strdup(c->arena, key_id);
	m->variants = json_object_get(d, "variants");
	snprintf(key, sizeof(key), "%s@%s", model, version);
	return m->text_b64 && m->signature && m->key_id ? strmap_set(c->manifests, key, m)
							: RAMP_ENOMEM;
}

static int on_rollout(void *ctx, int64_t id, const char *model, const char *version,
		      const char *baseline, const char *state, int stage, const char *stage_name)
{
	struct catalog *c = ((struct load *)ctx)->cat;
	struct snap_rollout *r = arena_calloc(c->arena, 1, sizeof(*r));
	struct snap_model *m = model_of(c, model);
	char key[32];

	(void)stage;
	if (r == NULL || m == NULL)
		return RAMP_ENOMEM;
	r->id = id;
	r->version = arena_strdup(c->arena, version);
	r->baseline = baseline ? arena_strdup(c->arena, baseline) : NULL;
	r->state = arena_strdup(c->arena, state);
	r->stage_name = arena_strdup(c->arena, stage_name ? stage_name : "");
	m->rollout = r;
	snprintf(key, sizeof(key), "%lld", (long long)id);
	return strmap_set(c->rollouts, key, r);
}

static int on_rollout_window(void *ctx, int64_t id, int64_t opens_at, int windowed, int reverting,
			     const char *opens_by)
{
	struct catalog *c = ((struct load *)ctx)->cat;
	char key[32];
	struct snap_rollout *r;

	snprintf(key, sizeof(key), "%lld", (long long)id);
	if ((r = strmap_get(c->rollouts, key)) == NULL)
		return 0;
	r->opens_at = opens_at;
	r->windowed = windowed;
	r->reverting = reverting;
	if (opens_by) { /* label_windows: each group's opening (catalog-owned) */
		r->opens_by = json_loads(opens_by, 0, NULL);
		if (r->opens_by == NULL || json_array_append_new(c->owned, r->opens_by) != 0)
			return RAMP_ENOMEM;
	}
	return 0;
}

static int on_rollout_shadow(void *ctx, int64_t id, double fraction)
{
	struct catalog *c = ((struct load *)ctx)->cat;
	char key[32];
	struct snap_rollout *r;

	snprintf(key, sizeof(key), "%lld", (long long)id);
	if ((r = strmap_get(c->rollouts, key)) != NULL)
		r->shadow = fraction > 0 && fraction <= 1 ? fraction : 0;
	return 0;
}

/* --- devices: straight into a whole load, or staged --- */

void snapshot_staged_free(void *ctx, const char *key, void *v)
{
	struct staged *d = v;

	(void)ctx;
	(void)key;
	free(d->platform);
	free(d->pins);
	free(d->running);
	free(d->wlabel);
	free(d->rollouts);
	free(d->toks);
	free(d);
}

static int on_device(void *ctx, const char *id, const char *platform, const char *pins,
		     const char *running, const char *wlabel)
{
	struct load *l = ctx;
	struct staged *d;
	uint32_t cls, idx;
	int rc;

	if (l->s) {
		rc = class_find(l->s, platform, pins, running, wlabel, NULL, 0, &cls);
		return rc ? rc : fleet_put(l->s->fleet, id, cls, &idx);
	}
	if ((d = strmap_get(l->staged, id)) == NULL)
		return 0; /* not asked for */
	free(d->platform);
	free(d->pins);
	free(d->running);
	free(d->wlabel);
	d->platform = strdup(platform);
	d->pins = pins ? strdup(pins) : NULL;
	d->running = running ? strdup(running) : NULL;
	d->wlabel = wlabel ? strdup(wlabel) : NULL;
	d->exists = true;
	return d->platform && (!pins || d->pins) && (!running || d->running) &&
			       (!wlabel || d->wlabel)
		       ? 0
		       : RAMP_ENOMEM;
}

static int on_assigned(void *ctx, int64_t rollout_id, const char *device_id)
{
	struct load *l = ctx;
	struct staged *d;
	uint32_t idx, cls;
	int rc;

	if (l->s) {
		idx = fleet_find(l->s->fleet, device_id);
		if (idx == FLEET_NONE)
			return 0; /* a deleted device is no one's */
		rc = class_with(l->s, fleet_get(l->s->fleet, idx)->cls, rollout_id, &cls);
		if (rc == 0)
			fleet_set_class(l->s->fleet, idx, cls);
		return rc;
	}
	if (l->staged == NULL) /* a rollout's members, held apart */
		return strlist_push(rollout_id < 0 ? &l->held : &l->members, device_id);
	if ((d = strmap_get(l->staged, device_id)) == NULL)
		return 0;
	{
		int64_t *p = realloc(d->rollouts, (d->nrollouts + 1) * sizeof(*p));
		size_t i;
		if (p == NULL)
			return RAMP_ENOMEM;
		d->rollouts = p;
		/* ascending by |id|, as a class keeps them */
		for (i = d->nrollouts; i > 0 && llabs(p[i - 1]) > llabs(rollout_id); i--)
			p[i] = p[i - 1];
		p[i] = rollout_id;
		d->nrollouts++;
	}
	return 0;
}

static int on_token(void *ctx, const char *hash_hex, const char *device_id, int64_t expires_at)
{
	struct load *l = ctx;
	unsigned char h[32];
	struct staged *d;
	uint32_t idx;

	if (hex_decode(h, hash_hex, 32) != 0)
		return 0;
	if (l->s) {
		idx = fleet_find(l->s->fleet, device_id);
		return idx == FLEET_NONE ? 0 : fleet_add_token(l->s->fleet, idx, h, expires_at);
	}
	if ((d = strmap_get(l->staged, device_id)) == NULL)
		return 0;
	{
		void *p = realloc(d->toks, (d->ntoks + 1) * sizeof(*d->toks));
		if (p == NULL)
			return RAMP_ENOMEM;
		d->toks = p;
		memcpy(d->toks[d->ntoks].h, h, 32);
		d->toks[d->ntoks++].exp = expires_at;
	}
	return 0;
}

static int on_delta(void *ctx, const char *from, const char *to, const char *digest,
		    int64_t size)
{
	struct catalog *c = ((struct load *)ctx)->cat;
	struct snap_delta *d = arena_calloc(c->arena, 1, sizeof(*d));
	char key[160];

	if (d == NULL || (d->digest = arena_strdup(c->arena, digest)) == NULL ||
	    (d->to = arena_strdup(c->arena, to)) == NULL)
		return RAMP_ENOMEM;
	d->size = size;
	snprintf(key, sizeof(key), "%s>%s", from, to);
	return strmap_set(c->deltas, key, d) == 0 ? strmap_set(c->deltas, digest, d) : RAMP_ENOMEM;
}

struct snapshot_loader snapshot_loader_of(struct load *l)
{
	struct snapshot_loader x = {l, on_device, on_model, on_manifest, on_rollout, on_assigned,
				    on_token, on_rollout_window, on_delta, on_rollout_shadow,
				    on_rollout_back};
	return x;
}

/* --- the whole load --- */

struct snapshot *snapshot_load_whole(struct app *app, int *rc)
{
	struct snapshot *s = snapshot_new(app->server_url);
	struct load l = {0};
	struct snapshot_loader x;

	if (s == NULL) {
		*rc = RAMP_ENOMEM;
		return NULL;
	}
	s->deferred = true; /* class texts once the catalog is in */
	l.s = s;
	l.cat = s->cat;
	x = snapshot_loader_of(&l);
	*rc = store_snapshot_load(app->db, &x);
	s->deferred = false;
	if (*rc == 0)
		*rc = classes_recompute(s);
	if (*rc) {
		snapshot_free(s);
		return NULL;
	}
	return s;
}

/* Builds are serialised: a build that read the database later also swaps
 * later, so an older picture never replaces a newer one. */
int snapshot_rebuild(struct app *app)
{
	struct snapshot *s, *old;
	double t0 = clock_mono_s();
	uint64_t g;
	int rc;

	pthread_mutex_lock(&snapshot_build_mu);
	g = snapshot_begin_change();
	if ((s = snapshot_load_whole(app, &rc)) != NULL) {
		s->generation = g;
		atomic_fetch_add(&fleet_gen, 1);
		snapshot_ring_reset(); /* the evaluator's sets load anew */
		old = snapshot_swap(s);
		snapshot_release(old);
		if (old)
			malloc_trim(0); /* a big fleet's old picture goes back to the system */
	}
	if (s && clock_mono_s() - t0 > 0.5)
		log_info("msg=\"snapshot rebuilt\" devices=%zu classes=%zu seconds=%.2f",
			 fleet_size(s->fleet), s->nclasses, clock_mono_s() - t0);
	pthread_mutex_unlock(&snapshot_build_mu);
	return rc;
}
