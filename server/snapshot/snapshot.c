/*
 * snapshot.c - builds, swaps and reads the agent-poll snapshot.
 *
 * Everything a snapshot points to lives in its arena or in jansson values
 * it owns, so freeing it is one walk. The current pointer is swapped under
 * a mutex; readers take a reference and never see a half-built snapshot.
 */
#include "snapshot/snapshot.h"

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

/* The "models" array of an answer as JSON text, with its hash for ETags. */
struct snap_answer {
	const char *text;
	size_t len;
	uint64_t hash;
};

struct snap_device {
	const char *id;
	const char *platform;
	json_t *pins;         /* NULL when none */
	const char *pins_text;
	const struct snap_answer *answer; /* shared by its class of devices */
};

/* A device token; it stops working at expires_at (unix s, 0: never) even
 * while this snapshot is still current (rotation grace periods). */
struct snap_token {
	const struct snap_device *device;
	int64_t expires_at;
	const char *hash; /* hex; the key of the tokens map */
};

struct snap_manifest {
	const char *text_b64, *signature, *key_id;
	json_t *variants; /* [{platform, file, digest, url?, size?}] */
};

struct snap_rollout {
	int64_t id;
	const char *version, *baseline, *stage_name, *state;
	struct strmap *assigned; /* device id -> (void *)1 */
};

struct snap_model {
	const char *name, *stable;
	struct snap_rollout *rollout;
};

struct snapshot {
	atomic_int refs;
	struct arena *arena;
	struct strmap *devices, *manifests, *models, *rollouts_by_id;
	struct strmap *tokens;  /* device token hash (hex) -> struct snap_token */
	struct strmap *classes; /* answer class key -> answer text */
	uint64_t generation;
	json_t *owned; /* an array holding every json value above */
};

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

static int build_answers(struct snapshot *s, const char *server_url);
static int rebuild_locked(struct app *app);

static pthread_mutex_t build_mu = PTHREAD_MUTEX_INITIALIZER;

static atomic_uint_least64_t started_gen;

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
	t0 = clock_mono_s();
	rc = store_snapshot_load(app->db, &l);
	if (rc == 0)
		rc = build_answers(s, app->server_url);
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

static json_t *variant_for(const struct snap_manifest *m, const char *platform)
{
	size_t i;
	json_t *v;

	json_array_foreach(m->variants, i, v) {
		if (strcmp(json_string_value(json_object_get(v, "platform")), platform) == 0)
			return v;
	}
	return NULL;
}

static const char *variant_url(json_t *v, const char *server_url, char *buf, size_t len)
{
	const char *u = json_string_value(json_object_get(v, "url"));

	if (u)
		return u;
	snprintf(buf, len, "%s/v1/artifacts/%s", server_url,
		 json_string_value(json_object_get(v, "digest")));
	return buf;
}

struct desired_ctx {
	const struct snapshot *s;
	const struct snap_device *dev;
	const char *device_id, *server_url;
	json_t *models;
};

static json_t *previous_of(const struct desired_ctx *d, const char *model, const char *baseline)
{
	char key[256], url[512];
	const struct snap_manifest *m;
	json_t *v;

	if (baseline == NULL)
		return json_null();
	snprintf(key, sizeof(key), "%s@%s", model, baseline);
	m = strmap_get(d->s->manifests, key);
	v = m ? variant_for(m, d->dev->platform) : NULL;
	if (v == NULL)
		return json_null();
	return json_pack("{s:s, s:O, s:s}", "version", baseline, "digest",
			 json_object_get(v, "digest"), "url",
			 variant_url(v, d->server_url, url, sizeof(url)));
}

/* One entry of "models" for model m, or nothing when the device has no variant. */
static void desired_model(void *ctx, const char *name, void *val)
{
	struct desired_ctx *d = ctx;
	const struct snap_model *m = val;
	const char *version = m->stable, *pin;
	const struct snap_rollout *r = NULL;
	const struct snap_manifest *man;
	char key[256], url[512];
	json_t *v, *e;

	pin = d->dev->pins ? json_string_value(json_object_get(d->dev->pins, name)) : NULL;
	if (pin)
		version = pin;
	else if (m->rollout && strmap_get(m->rollout->assigned, d->device_id)) {
		r = m->rollout;
		version = r->version;
	}
	if (version == NULL)
		return;
	snprintf(key, sizeof(key), "%s@%s", name, version);
	man = strmap_get(d->s->manifests, key);
	if (man == NULL || (v = variant_for(man, d->dev->platform)) == NULL)
		return;
	e = json_pack("{s:s, s:s, s:s, s:O, s:O, s:s, s:s, s:s, s:s}", "model", name, "version",
		      version, "platform", d->dev->platform, "file", json_object_get(v, "file"),
		      "digest", json_object_get(v, "digest"), "url",
		      variant_url(v, d->server_url, url, sizeof(url)), "manifest", man->text_b64,
		      "signature", man->signature, "key_id", man->key_id);
	if (e == NULL)
		return;
	json_object_set(e, "size", json_object_get(v, "size") ? json_object_get(v, "size")
							      : json_null());
	json_object_set_new(e, "rollout",
			    r ? json_pack("{s:I, s:s}", "id", (json_int_t)r->id, "stage",
					  r->stage_name)
			      : json_null());
	json_object_set_new(e, "previous", r ? previous_of(d, name, r->baseline) : json_null());
	json_array_append_new(d->models, e);
}

static int cmp_model(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	return strcmp(json_string_value(json_object_get(x, "model")),
		      json_string_value(json_object_get(y, "model")));
}

/* The "models" array for d, sorted by model so equal answers have equal text. */
static char *models_text(struct snapshot *s, struct snap_device *d, const char *server_url)
{
	struct desired_ctx dc = {s, d, d->id, server_url, json_array()};
	size_t n;
	json_t **items, *sorted;
	char *text, *out;

	strmap_each(s->models, desired_model, &dc);
	n = json_array_size(dc.models);
	items = malloc((n ? n : 1) * sizeof(*items));
	sorted = json_array();
	if (items == NULL || sorted == NULL) {
		free(items);
		json_decref(sorted);
		json_decref(dc.models);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		items[i] = json_incref(json_array_get(dc.models, i));
	qsort(items, n, sizeof(*items), cmp_model);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(sorted, items[i]);
	free(items);
	json_decref(dc.models);
	text = json_dumps(sorted, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(sorted);
	out = text ? arena_strdup(s->arena, text) : NULL;
	free(text);
	return out;
}

static struct snap_answer *answer_of(struct snapshot *s, struct snap_device *d,
				     const char *server_url)
{
	struct snap_answer *a = arena_calloc(s->arena, 1, sizeof(*a));

	if (a == NULL || (a->text = models_text(s, d, server_url)) == NULL)
		return NULL;
	a->len = strlen(a->text);
	a->hash = hash_fnv1a(HASH_FNV1A_BASIS_V0 /* ETags devices hold */, a->text, a->len);
	return a;
}

struct classes_ctx {
	struct snapshot *s;
	const char *server_url;
	struct snap_model **models;
	size_t nmodels;
	int rc;
};

static void collect_model(void *ctx, const char *key, void *val)
{
	struct classes_ctx *c = ctx;
	(void)key;
	c->models[c->nmodels++] = val;
}

/* Devices that share platform, pins and rollout memberships get the same
 * answer but for their id: compute it once per such class. */
static void class_of_device(void *ctx, const char *id, void *val)
{
	struct classes_ctx *c = ctx;
	struct snap_device *d = val;
	char key[2048];
	int n = snprintf(key, sizeof(key), "%s\x1f%s\x1f", d->platform,
			 d->pins_text ? d->pins_text : "");
	const struct snap_answer *ans;

	for (size_t i = 0; i < c->nmodels && n > 0 && (size_t)n < sizeof(key); i++) {
		const struct snap_rollout *r = c->models[i]->rollout;
		if (r && strmap_get(r->assigned, id))
			n += snprintf(key + n, sizeof(key) - (size_t)n, "%lld,", (long long)r->id);
	}
	if (c->rc)
		return;
	if (n < 0 || (size_t)n >= sizeof(key)) {
		/* an unusually long pin list: an answer of its own */
		d->answer = answer_of(c->s, d, c->server_url);
		c->rc = d->answer ? 0 : RAMP_ENOMEM;
		return;
	}
	ans = strmap_get(c->s->classes, key);
	if (ans == NULL) {
		ans = answer_of(c->s, d, c->server_url);
		if (ans == NULL || strmap_set(c->s->classes, key, (void *)ans) != 0) {
			c->rc = RAMP_ENOMEM;
			return;
		}
	}
	d->answer = ans;
}

static int build_answers(struct snapshot *s, const char *server_url)
{
	struct classes_ctx c = {s, server_url, NULL, 0, 0};

	c.models = calloc(strmap_size(s->models) + 1, sizeof(*c.models));
	if (c.models == NULL)
		return RAMP_ENOMEM;
	strmap_each(s->models, collect_model, &c);
	strmap_each(s->devices, class_of_device, &c);
	free(c.models);
	return c.rc;
}

/* The answer is a function of (models text, device id, poll interval):
 * its ETag hashes those, so a 304 needs no answer built at all. */
static void etag_of(const struct snap_device *d, const char *device_id, int poll_after_s,
		    char etag[24])
{
	uint64_t h = hash_fnv1a(d->answer->hash, device_id, strlen(device_id));

	h = hash_fnv1a(h, (const char *)&poll_after_s, sizeof(poll_after_s));
	snprintf(etag, 24, "\"%016llx\"", (unsigned long long)h);
}

bool snapshot_desired_etag(const struct snapshot *s, const char *device_id, int poll_after_s,
			   char etag[24])
{
	const struct snap_device *d = strmap_get(s->devices, device_id);

	if (d == NULL || d->answer == NULL)
		return false;
	etag_of(d, device_id, poll_after_s, etag);
	return true;
}

char *snapshot_desired(const struct snapshot *s, const char *device_id, int poll_after_s,
		       size_t *len, char etag[24])
{
	static const char head[] = "{\"device_id\":\"", mid[] = "\",\"models\":",
			  tail[] = ",\"poll_after_s\":";
	const struct snap_device *d = strmap_get(s->devices, device_id);
	size_t idlen, cap, n;
	char *text, num[16];
	int nl;

	if (d == NULL || d->answer == NULL)
		return NULL;
	/* device ids are [A-Za-z0-9._:-]: nothing to escape */
	idlen = strlen(device_id);
	nl = snprintf(num, sizeof(num), "%d}", poll_after_s);
	cap = sizeof(head) + idlen + sizeof(mid) + d->answer->len + sizeof(tail) + (size_t)nl;
	if ((text = malloc(cap)) == NULL)
		return NULL;
	n = 0;
	memcpy(text + n, head, sizeof(head) - 1), n += sizeof(head) - 1;
	memcpy(text + n, device_id, idlen), n += idlen;
	memcpy(text + n, mid, sizeof(mid) - 1), n += sizeof(mid) - 1;
	memcpy(text + n, d->answer->text, d->answer->len), n += d->answer->len;
	memcpy(text + n, tail, sizeof(tail) - 1), n += sizeof(tail) - 1;
	memcpy(text + n, num, (size_t)nl + 1), n += (size_t)nl;
	*len = n;
	etag_of(d, device_id, poll_after_s, etag);
	return text;
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
