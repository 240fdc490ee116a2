/*
 * snapshot.c - builds, swaps and reads the agent-poll snapshot: loading it
 * from the store, the current pointer and its references, the one miss
 * path (snapshot_fresh), and the lookups by device and token. The desired
 * answers it precomputes are answers.c's.
 *
 * Everything a snapshot points to lives in its arena or in jansson values
 * it owns, so freeing it is one walk. The current pointer is swapped under
 * a mutex; readers take a reference and never see a half-built snapshot.
 */
#include "snapshot/snapshot_int.h"

#include "common/arena.h"
#include "common/clock.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/strmap.h"
#include "domain/sig.h"
#include "store/store.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t cur_mu = PTHREAD_MUTEX_INITIALIZER;
static struct snapshot *cur;

static void free_rollout_sets(void *ctx, const char *key, void *v)
{
	struct snap_rollout *r = v;
	(void)ctx;
	(void)key;
	strmap_free(r->assigned);
}

static void snapshot_free(struct snapshot *s)
{
	if (s == NULL)
		return;
	if (s->rollouts_by_id)
		strmap_each(s->rollouts_by_id, free_rollout_sets, NULL);
	strmap_free(s->devices);
	strmap_free(s->manifests);
	strmap_free(s->models);
	strmap_free(s->rollouts_by_id);
	strmap_free(s->tokens);
	strmap_free(s->classes);
	json_decref(s->owned);
	arena_free(s->arena);
	free(s);
}

static struct snap_model *model_of(struct snapshot *s, const char *name)
{
	struct snap_model *m = strmap_get(s->models, name);

	if (m)
		return m;
	m = arena_calloc(s->arena, 1, sizeof(*m));
	if (m == NULL || (m->name = arena_strdup(s->arena, name)) == NULL ||
	    strmap_set(s->models, name, m) != 0)
		return NULL;
	return m;
}

static int on_device(void *ctx, const char *id, const char *platform, const char *pins)
{
	struct snapshot *s = ctx;
	struct snap_device *d = arena_calloc(s->arena, 1, sizeof(*d));

	if (d == NULL || (d->platform = arena_strdup(s->arena, platform)) == NULL ||
	    (d->id = arena_strdup(s->arena, id)) == NULL)
		return RAMP_ENOMEM;
	if (pins) {
		d->pins = json_loads(pins, 0, NULL);
		d->pins_text = arena_strdup(s->arena, pins);
		json_array_append_new(s->owned, d->pins);
	}
	return strmap_set(s->devices, d->id, d);
}

static int on_model(void *ctx, const char *name, const char *stable)
{
	struct snapshot *s = ctx;
	struct snap_model *m = model_of(s, name);

	if (m == NULL)
		return RAMP_ENOMEM;
	m->stable = stable ? arena_strdup(s->arena, stable) : NULL;
	return 0;
}

static int on_manifest(void *ctx, const char *model, const char *version, const char *text,
		       const char *signature, const char *key_id, const char *doc)
{
	struct snapshot *s = ctx;
	struct snap_manifest *m = arena_calloc(s->arena, 1, sizeof(*m));
	char *b64 = sig_base64_encode(text, strlen(text));
	json_t *d = json_loads(doc, 0, NULL);
	char key[256];

	if (m == NULL || b64 == NULL || d == NULL) {
		free(b64);
		json_decref(d);
		return RAMP_ENOMEM;
	}
	json_array_append_new(s->owned, d);
	m->text_b64 = arena_strdup(s->arena, b64);
	free(b64);
	m->signature = arena_strdup(s->arena, signature);
	m->key_id = arena_strdup(s->arena, key_id);
	m->variants = json_object_get(d, "variants");
	snprintf(key, sizeof(key), "%s@%s", model, version);
	return strmap_set(s->manifests, key, m);
}

static int on_rollout(void *ctx, int64_t id, const char *model, const char *version,
		      const char *baseline, const char *state, int stage, const char *stage_name)
{
	struct snapshot *s = ctx;
	struct snap_rollout *r = arena_calloc(s->arena, 1, sizeof(*r));
	struct snap_model *m = model_of(s, model);
	char key[32];

	if (r == NULL || m == NULL || (r->assigned = strmap_new_borrowed()) == NULL)
		return RAMP_ENOMEM;
	r->id = id;
	r->version = arena_strdup(s->arena, version);
	r->baseline = baseline ? arena_strdup(s->arena, baseline) : NULL;
	r->state = arena_strdup(s->arena, state);
	r->stage_name = arena_strdup(s->arena, stage_name ? stage_name : "");
	(void)stage;
	m->rollout = r;
	snprintf(key, sizeof(key), "%lld", (long long)id);
	return strmap_set(s->rollouts_by_id, key, r);
}

static int on_token(void *ctx, const char *hash_hex, const char *device_id, int64_t expires_at)
{
	struct snapshot *s = ctx;
	struct snap_device *d = strmap_get(s->devices, device_id);
	struct snap_token *t;

	if (d == NULL)
		return 0;
	if ((t = arena_calloc(s->arena, 1, sizeof(*t))) == NULL)
		return RAMP_ENOMEM;
	t->device = d;
	t->expires_at = expires_at;
	/* the key lives in the arena beside the entry: no malloc per token */
	return (t->hash = arena_strdup(s->arena, hash_hex)) ? strmap_set(s->tokens, t->hash, t)
							     : RAMP_ENOMEM;
}

static int on_assigned(void *ctx, int64_t rollout_id, const char *device_id)
{
	struct snapshot *s = ctx;
	char key[32];
	struct snap_rollout *r;
	struct snap_device *d;

	snprintf(key, sizeof(key), "%lld", (long long)rollout_id);
	r = strmap_get(s->rollouts_by_id, key);
	d = strmap_get(s->devices, device_id);
	/* keyed by the device's own id string: a deleted device is no one's */
	return r && d ? strmap_set(r->assigned, d->id, (void *)1) : 0;
}

static int rebuild_locked(struct app *app);

static pthread_mutex_t build_mu = PTHREAD_MUTEX_INITIALIZER;

static atomic_uint_least64_t started_gen;
static atomic_uint_least64_t marks; /* see snapshot_mark_stale() */

uint64_t snapshot_started(void)
{
	return atomic_load(&started_gen);
}

int snapshot_refresh_if(struct app *app, uint64_t seen)
{
	struct snapshot *s;
	int rc = 0;

	/* many pollers may find the same stale snapshot: one rebuilds, the rest reuse */
	pthread_mutex_lock(&build_mu);
	s = snapshot_acquire();
	/* only a build that began reading after the caller's miss will do */
	if (s == NULL || s->generation <= seen)
		rc = rebuild_locked(app);
	snapshot_release(s);
	pthread_mutex_unlock(&build_mu);
	return rc;
}

void snapshot_mark_stale(void)
{
	atomic_fetch_add(&marks, 1);
}

/* A miss nothing written here explains: rebuild at most once a second, so
 * polls of unknown devices cannot make every poll read the database. */
static bool blind_refresh_allowed(void)
{
	static atomic_llong last_ms;
	long long now = clock_mono_ms(), prev = atomic_load(&last_ms);

	return now - prev >= 1000 && atomic_compare_exchange_strong(&last_ms, &prev, now);
}

struct snapshot *snapshot_fresh(struct app *app, struct snapshot *s, const char *device_id)
{
	struct snapshot *now;
	uint64_t seen;

	if (s == NULL && (s = snapshot_acquire()) == NULL)
		return NULL;
	if (snapshot_has_device(s, device_id))
		return s;
	now = snapshot_acquire(); /* a synchronous rebuild may have swapped in a newer one */
	if (now != s) {
		snapshot_release(s);
		s = now;
		if (snapshot_has_device(s, device_id))
			return s;
	} else {
		snapshot_release(now);
	}
	if (atomic_load(&marks) == s->marks && !blind_refresh_allowed())
		return s;
	seen = snapshot_started();
	snapshot_release(s);
	snapshot_refresh_if(app, seen);
	return snapshot_acquire();
}

/* Builds are serialised: a build that read the database later also swaps
 * later, so an older picture never replaces a newer one. */
int snapshot_rebuild(struct app *app)
{
	int rc;

	pthread_mutex_lock(&build_mu);
	rc = rebuild_locked(app);
	pthread_mutex_unlock(&build_mu);
	return rc;
}



static int rebuild_locked(struct app *app)
{
	struct snapshot *s = calloc(1, sizeof(*s)), *old;
	struct snapshot_loader l = {s, on_device, on_model, on_manifest, on_rollout, on_assigned,
				    on_token};
	double t0;
	int rc;

	if (s == NULL)
		return RAMP_ENOMEM;
	atomic_init(&s->refs, 1);
	s->arena = arena_new();
	s->devices = strmap_new_borrowed(); /* keys: the devices' ids in the arena */
	s->manifests = strmap_new();
	s->models = strmap_new();
	s->rollouts_by_id = strmap_new();
	s->owned = json_array();
	s->tokens = strmap_new_borrowed();
	s->classes = strmap_new();
	if (!s->arena || !s->devices || !s->manifests || !s->models || !s->rollouts_by_id ||
	    !s->owned || !s->tokens || !s->classes) {
		snapshot_free(s);
		return RAMP_ENOMEM;
	}
	/* numbered when the read begins: see snapshot_started() */
	s->generation = atomic_fetch_add(&started_gen, 1) + 1;
	s->marks = atomic_load(&marks);
	t0 = clock_mono_s();
	rc = store_snapshot_load(app->db, &l);
	if (rc == 0)
		rc = snapshot_build_answers(s, app->server_url);
	if (rc) {
		snapshot_free(s);
		return rc;
	}
	pthread_mutex_lock(&cur_mu);
	old = cur;
	cur = s;
	pthread_mutex_unlock(&cur_mu);
	snapshot_release(old);
	if (old)
		malloc_trim(0); /* a big fleet's old picture goes back to the system */
	if (clock_mono_s() - t0 > 0.5)
		log_info("msg=\"snapshot rebuilt\" devices=%zu classes=%zu seconds=%.2f",
			 strmap_size(s->devices), strmap_size(s->classes), clock_mono_s() - t0);
	return 0;
}

struct snapshot *snapshot_acquire(void)
{
	struct snapshot *s;

	pthread_mutex_lock(&cur_mu);
	s = cur;
	if (s)
		atomic_fetch_add(&s->refs, 1);
	pthread_mutex_unlock(&cur_mu);
	return s;
}

void snapshot_release(struct snapshot *s)
{
	if (s && atomic_fetch_sub(&s->refs, 1) == 1)
		snapshot_free(s);
}

void snapshot_shutdown(void)
{
	struct snapshot *s;

	pthread_mutex_lock(&cur_mu);
	s = cur;
	cur = NULL;
	pthread_mutex_unlock(&cur_mu);
	snapshot_release(s);
}

uint64_t snapshot_generation(const struct snapshot *s)
{
	return s->generation;
}

size_t snapshot_devices(const struct snapshot *s)
{
	return strmap_size(s->devices);
}

bool snapshot_has_device(const struct snapshot *s, const char *device_id)
{
	return strmap_get(s->devices, device_id) != NULL;
}

const char *snapshot_device_for_token(const struct snapshot *s, const char *hash_hex)
{
	const struct snap_token *t = strmap_get(s->tokens, hash_hex);

	if (t == NULL || (t->expires_at && t->expires_at <= (int64_t)time(NULL)))
		return NULL;
	return t->device->id;
}
