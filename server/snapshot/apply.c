/*
 * apply.c - changing the current snapshot in place after a committed
 * write, before the write is answered (read-your-writes): devices, the
 * catalog, a rollout's new members, another replica's notices, the miss
 * path of a poll, and the check that the snapshot equals a fresh load.
 *
 * Each change reads what it needs from the store first, then takes the
 * write lock only to apply it; changes are serialised among themselves
 * and with whole loads (snapshot_build_mu).
 */
#include "snapshot/snapshot_int.h"

#include "common/clock.h"
#include "common/hex.h"
#include "common/log.h"
#include "common/strmap.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- the devices changed lately, for the evaluator's sets --- */

#define RING 65536

static pthread_mutex_t ring_mu = PTHREAD_MUTEX_INITIALIZER;
static char *ring[RING];
static uint64_t ring_next, ring_floor; /* seqs [floor, next) are kept */

static void ring_note(const char *id)
{
	char *copy = strdup(id);

	pthread_mutex_lock(&ring_mu);
	free(ring[ring_next % RING]);
	ring[ring_next % RING] = copy;
	ring_next++;
	if (copy == NULL || ring_next - ring_floor > RING)
		ring_floor = copy ? ring_next - RING : ring_next; /* a lost id: nothing older holds */
	pthread_mutex_unlock(&ring_mu);
}

void snapshot_ring_reset(void)
{
	pthread_mutex_lock(&ring_mu);
	ring_floor = ring_next;
	pthread_mutex_unlock(&ring_mu);
}

uint64_t snapshot_devices_seq(void)
{
	uint64_t s;

	pthread_mutex_lock(&ring_mu);
	s = ring_next;
	pthread_mutex_unlock(&ring_mu);
	return s;
}

int snapshot_devices_changed_since(uint64_t *seq, char ***ids, size_t *n)
{
	int rc = 0;

	*ids = NULL;
	*n = 0;
	pthread_mutex_lock(&ring_mu);
	if (*seq < ring_floor || *seq > ring_next) {
		rc = RAMP_ENOTFOUND;
	} else if (*seq < ring_next) {
		*ids = calloc(ring_next - *seq, sizeof(**ids));
		for (uint64_t s = *seq; *ids && s < ring_next; s++)
			if (((*ids)[*n] = strdup(ring[s % RING])) != NULL)
				(*n)++;
		if (*ids == NULL || *n != ring_next - *seq)
			rc = RAMP_ENOMEM;
		else
			*seq = ring_next;
	}
	pthread_mutex_unlock(&ring_mu);
	if (rc && *ids) {
		for (size_t i = 0; i < *n; i++)
			free((*ids)[i]);
		free(*ids);
		*ids = NULL;
		*n = 0;
	}
	return rc;
}

struct apply_ctx {
	struct snapshot *s;
	int rc;
};

/* Drops the rollouts of d no longer active (the store sent active ones,
 * but the catalog is what answers are made from). */
static void apply_staged(void *ctx, const char *id, void *v)
{
	struct apply_ctx *a = ctx;
	struct staged *d = v;
	struct snapshot *s = a->s;
	uint32_t idx = fleet_find(s->fleet, id), cls;
	int rc;

	if (a->rc)
		return;
	if (!d->exists) {
		if (idx != FLEET_NONE)
			fleet_del(s->fleet, idx);
		return;
	}
	rc = class_find(s, d->platform, d->pins, d->running, d->wlabel, d->rollouts, d->nrollouts,
			&cls);
	if (rc == 0)
		rc = fleet_put(s->fleet, id, cls, &idx);
	if (rc == 0)
		fleet_clear_tokens(s->fleet, idx);
	for (size_t i = 0; rc == 0 && i < d->ntoks; i++)
		rc = fleet_add_token(s->fleet, idx, d->toks[i].h, d->toks[i].exp);
	a->rc = rc;
}

int snapshot_devices_changed(struct app *app, const char *const *ids, size_t n, uint64_t *gen)
{
	struct load l = {0};
	struct snapshot_loader x;
	struct apply_ctx a = {0};
	uint64_t g;
	int rc = 0;

	if (gen)
		*gen = 0;
	if (n == 0)
		return 0;
	pthread_mutex_lock(&snapshot_build_mu);
	g = snapshot_begin_change();
	a.s = snapshot_acquire();
	l.staged = strmap_new();
	if (a.s == NULL || l.staged == NULL)
		rc = a.s ? RAMP_ENOMEM : RAMP_EUNAVAIL;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct staged *d;
		if (strmap_get(l.staged, ids[i]))
			continue;
		if ((d = calloc(1, sizeof(*d))) == NULL || strmap_set(l.staged, ids[i], d) != 0) {
			free(d);
			rc = RAMP_ENOMEM;
		}
	}
	x = snapshot_loader_of(&l);
	if (rc == 0)
		rc = store_snapshot_devices(app->db, ids, n, &x);
	if (rc == 0) {
		pthread_rwlock_wrlock(&a.s->lock);
		strmap_each(l.staged, apply_staged, &a);
		a.s->generation = g;
		pthread_rwlock_unlock(&a.s->lock);
		rc = a.rc;
		for (size_t i = 0; i < n; i++)
			ring_note(ids[i]);
		if (gen)
			*gen = g;
	}
	if (l.staged)
		strmap_each(l.staged, snapshot_staged_free, NULL);
	strmap_free(l.staged);
	snapshot_release(a.s);
	pthread_mutex_unlock(&snapshot_build_mu);
	return rc;
}

int snapshot_device_changed(struct app *app, const char *device_id, uint64_t *gen)
{
	return snapshot_devices_changed(app, &device_id, 1, gen);
}

/* The catalog anew and, for rollout (0: none), the devices ids (or, with
 * ids NULL and stage >= 0, those the store holds at that stage) as members. */
static int catalog_and_members(struct app *app, int64_t rollout, int stage,
			       const char *const *ids, size_t n)
{
	struct load l = {0};
	struct snapshot_loader x;
	struct snapshot *s;
	struct catalog *old = NULL;
	uint64_t g;
	int rc = 0;

	pthread_mutex_lock(&snapshot_build_mu);
	g = snapshot_begin_change();
	s = snapshot_acquire();
	l.cat = catalog_new();
	if (s == NULL || l.cat == NULL)
		rc = s ? RAMP_ENOMEM : RAMP_EUNAVAIL;
	x = snapshot_loader_of(&l);
	if (rc == 0)
		rc = store_snapshot_catalog(app->db, &x);
	if (rc == 0 && rollout && ids == NULL && stage >= 0) {
		struct load m = {0};
		struct snapshot_loader y = snapshot_loader_of(&m);
		rc = store_snapshot_members(app->db, llabs(rollout), stage, &y);
		/* another replica assigned them: the evaluator's sets are stale */
		snapshot_fleet_changed();
		ids = (const char *const *)m.members.v;
		n = m.members.n;
		l.members = m.members;
		l.held = m.held; /* held for a window: joined as -rollout below */
	}
	if (rc == 0) {
		pthread_rwlock_wrlock(&s->lock);
		old = s->cat;
		s->cat = l.cat;
		l.cat = NULL;
		for (size_t i = 0; rc == 0 && rollout && i < n + l.held.n; i++) {
			const char *dev = i < n ? ids[i] : l.held.v[i - n];
			uint32_t idx = fleet_find(s->fleet, dev), cls;
			if (idx == FLEET_NONE)
				continue;
			rc = class_with(s, fleet_get(s->fleet, idx)->cls,
					i < n ? rollout : -llabs(rollout), &cls);
			if (rc == 0)
				fleet_set_class(s->fleet, idx, cls);
		}
		if (rc == 0)
			rc = classes_recompute(s);
		s->generation = g;
		pthread_rwlock_unlock(&s->lock);
	}
	catalog_free(old);
	catalog_free(l.cat);
	strlist_free(&l.members);
	strlist_free(&l.held);
	snapshot_release(s);
	pthread_mutex_unlock(&snapshot_build_mu);
	return rc;
}

int snapshot_catalog_changed(struct app *app)
{
	return catalog_and_members(app, 0, -1, NULL, 0);
}

int snapshot_rollout_changed(struct app *app, int64_t rollout, const char *const *ids, size_t n)
{
	return catalog_and_members(app, rollout, -1, ids, n);
}

/* --- another replica's notices --- */

#define NOTICES_MAX 65536 /* past this many at once, one whole load is cheaper */
#define DEVICES_AT_ONCE 10000 /* ids read from the store per change */

int snapshot_apply_notices(struct app *app, char *const *notices, size_t n)
{
	const char **ids = calloc(n + 1, sizeof(*ids));
	size_t nids = 0;
	bool catalog = false;
	int rc = 0;

	if (ids == NULL || n > NOTICES_MAX) {
		free(ids);
		return snapshot_rebuild(app);
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *w = notices[i];
		long long r;
		int stage;
		if (w[0] == 'd' && w[1] == ' ')
			ids[nids++] = w + 2;
		else if (w[0] == 'c' && w[1] == '\0')
			catalog = true;
		else if (sscanf(w, "r %lld %d", &r, &stage) == 2)
			rc = stage >= 0 ? catalog_and_members(app, r, stage, NULL, 0)
					: snapshot_catalog_changed(app);
		else if (strcmp(w, "t") != 0)
			rc = snapshot_rebuild(app); /* a notice this version does not know */
	}
	for (size_t at = 0; rc == 0 && at < nids; at += DEVICES_AT_ONCE)
		rc = snapshot_devices_changed(app, ids + at,
					      nids - at < DEVICES_AT_ONCE ? nids - at : DEVICES_AT_ONCE,
					      NULL);
	if (rc == 0 && catalog)
		rc = snapshot_catalog_changed(app);
	free(ids);
	return rc;
}

/* --- the miss path --- */

/* Polls of devices this snapshot does not know reload at most this many
 * devices a second from the store: an unknown device cannot make every
 * poll read the database. */
#define MISSES_PER_S 200

static bool miss_allowed(void)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	static long long window;
	static int used;
	long long now = clock_mono_ms() / 1000;
	bool ok;

	pthread_mutex_lock(&mu);
	if (now != window) {
		window = now;
		used = 0;
	}
	ok = used < MISSES_PER_S;
	used += ok;
	pthread_mutex_unlock(&mu);
	return ok;
}

struct snapshot *snapshot_fresh(struct app *app, struct snapshot *s, const char *device_id)
{
	struct snapshot *now;

	if (s == NULL && (s = snapshot_acquire()) == NULL)
		return NULL;
	if (snapshot_has_device(s, device_id, NULL))
		return s;
	now = snapshot_acquire(); /* a whole load may have swapped in a newer one */
	if (now != s) {
		snapshot_release(s);
		s = now;
		if (s == NULL || snapshot_has_device(s, device_id, NULL))
			return s;
	} else {
		snapshot_release(now);
	}
	/* another replica's write not yet heard of, or an unknown device */
	if (!miss_allowed() || snapshot_device_changed(app, device_id, NULL) != 0)
		return s;
	snapshot_release(s);
	return snapshot_acquire();
}
