/*
 * answers.c - the answer classes of a snapshot and the desired answer of
 * GET /v1/agent/desired read from them. Every device belongs to one class
 * (platform, pins, the rollouts it is assigned to); a class's "models"
 * text is built once, with its hash, from the catalog; a poll then only
 * splices its device id and poll interval around it and derives the ETag
 * from the hash, so the hot path neither builds JSON nor allocates for an
 * unchanged answer.
 */
#include "snapshot/snapshot_int.h"

#include "common/arena.h"
#include "common/err.h"
#include "common/hash.h"
#include "common/strmap.h"
#include "domain/window.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct catalog *catalog_new(void)
{
	struct catalog *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->arena = arena_new();
	c->manifests = strmap_new();
	c->models = strmap_new();
	c->rollouts = strmap_new();
	c->deltas = strmap_new();
	c->owned = json_array();
	if (!c->arena || !c->manifests || !c->models || !c->rollouts || !c->deltas || !c->owned) {
		catalog_free(c);
		return NULL;
	}
	return c;
}

void catalog_free(struct catalog *c)
{
	if (c == NULL)
		return;
	strmap_free(c->manifests);
	strmap_free(c->models);
	strmap_free(c->rollouts);
	strmap_free(c->deltas);
	json_decref(c->owned);
	arena_free(c->arena);
	free(c);
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
	const struct catalog *cat;
	const struct snap_class *cls;
	const char *server_url;
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
	m = strmap_get(d->cat->manifests, key);
	v = m ? variant_for(m, d->cls->platform) : NULL;
	if (v == NULL)
		return json_null();
	return json_pack("{s:s, s:O, s:s}", "version", baseline, "digest",
			 json_object_get(v, "digest"), "url",
			 variant_url(v, d->server_url, url, sizeof(url)));
}

/* 1 when c's devices are assigned to rollout r, -1 when held for its
 * maintenance window, 0 when neither. */
static int membership(const struct snap_class *c, int64_t r)
{
	for (size_t i = 0; i < c->nrollouts; i++)
		if (llabs(c->rollouts[i]) == r)
			return c->rollouts[i] < 0 ? -1 : 1;
	return 0;
}

/* The "delta" of an entry for model name whose file is to_digest: there
 * when the class's devices last installed a version whose file for this
 * platform is the delta's from, exactly; JSON null otherwise. */
static json_t *delta_of(const struct desired_ctx *d, const char *name, const char *to_digest)
{
	const char *ran = d->cls->running ? json_string_value(json_object_get(d->cls->running, name))
					  : NULL;
	const struct snap_manifest *m;
	const struct snap_delta *x;
	const char *from;
	char key[256], url[512];
	json_t *v;

	if (ran == NULL || strmap_size(d->cat->deltas) == 0)
		return json_null();
	snprintf(key, sizeof(key), "%s@%s", name, ran);
	if ((m = strmap_get(d->cat->manifests, key)) == NULL ||
	    (v = variant_for(m, d->cls->platform)) == NULL ||
	    (from = json_string_value(json_object_get(v, "digest"))) == NULL ||
	    strcmp(from, to_digest) == 0)
		return json_null();
	snprintf(key, sizeof(key), "%s>%s", from, to_digest);
	if ((x = strmap_get(d->cat->deltas, key)) == NULL)
		return json_null();
	snprintf(url, sizeof(url), "%s/v1/artifacts/%s", d->server_url, x->digest);
	return json_pack("{s:s, s:s, s:s, s:I, s:s}", "from", from, "url", url, "digest", x->digest, "size", (json_int_t)x->size, "format", "zstd-patch");
}

static bool assigned_to(const struct snap_class *c, int64_t r)
{
	for (size_t i = 0; i < c->nrollouts; i++)
		if (c->rollouts[i] == r)
			return true;
	return false;
}

/* The entry of model name at version (r: as rollout r's), or NULL when
 * the class has no variant of it. */
static json_t *model_entry(struct desired_ctx *d, const char *name, const char *version,
			   const struct snap_rollout *r)
{
	const struct snap_manifest *man;
	const char *platform = d->cls->platform;
	char key[256], url[512];
	json_t *v, *e, *dl;

	snprintf(key, sizeof(key), "%s@%s", name, version);
	man = strmap_get(d->cat->manifests, key);
	if (man == NULL || (v = variant_for(man, platform)) == NULL)
		return NULL;
	e = json_pack("{s:s, s:s, s:s, s:O, s:O, s:s, s:s, s:s, s:s}", "model", name, "version",
		      version, "platform", platform, "file", json_object_get(v, "file"),
		      "digest", json_object_get(v, "digest"), "url",
		      variant_url(v, d->server_url, url, sizeof(url)), "manifest", man->text_b64,
		      "signature", man->signature, "key_id", man->key_id);
	if (e == NULL)
		return NULL;
	json_object_set(e, "size", json_object_get(v, "size") ? json_object_get(v, "size")
							      : json_null());
	json_object_set_new(e, "rollout",
			    r ? json_pack("{s:I, s:s}", "id", (json_int_t)r->id, "stage",
					  r->stage_name)
			      : json_null());
	if (r && r->windowed && !r->reverting) /* DDI: maintenanceWindow available */
		json_object_set_new(json_object_get(e, "rollout"), "window", json_string("open"));
	json_object_set_new(e, "previous", r ? previous_of(d, name, r->baseline) : json_null());
	/* only when there is one: answers without deltas keep their text and ETag */
	dl = delta_of(d, name, json_string_value(json_object_get(v, "digest")));
	if (json_is_object(dl))
		json_object_set_new(e, "delta", dl);
	else
		json_decref(dl);
	return e;
}

/* A shadow stage's candidate (docs/judge.md "Shadow runs"): the entry of
 * rollout r's version as a "shadow" object on the served entry e, without
 * what only an install needs (previous, delta), plus the share of live
 * requests to run it on. Nothing when the class has no variant of it. */
static void add_shadow(struct desired_ctx *d, json_t *e, const char *name,
		       const struct snap_rollout *r)
{
	json_t *sh = model_entry(d, name, r->version, r);

	if (sh == NULL)
		return;
	json_object_del(sh, "previous");
	json_object_del(sh, "delta");
	json_object_del(sh, "model");
	json_object_del(sh, "platform");
	json_object_set_new(sh, "fraction", json_real(r->shadow));
	json_object_set_new(e, "shadow", sh);
}

static void set_next_window(json_t *e, int64_t at)
{
	char t[32];

	window_rfc3339(at, t, sizeof(t));
	json_object_set_new(e, "next_window_at", json_string(t));
}

/* True when rollout r sent platform's devices back to the baseline. */
static bool platform_back(const struct snap_rollout *r, const char *platform)
{
	size_t i;
	json_t *v;

	json_array_foreach(r->back, i, v)
		if (strcmp(json_string_value(v) ? json_string_value(v) : "", platform) == 0)
			return true;
	return false;
}

/* When a held device of class c is let through: with label_windows its
 * ramp.window group's opening (its value's, else the stage's ""), else
 * the rollout's. */
static int64_t held_opens_at(const struct snap_class *c, const struct snap_rollout *r)
{
	json_t *at;

	if (r->opens_by == NULL)
		return r->opens_at;
	at = c->wlabel ? json_object_get(r->opens_by, c->wlabel) : NULL;
	if (at == NULL)
		at = json_object_get(r->opens_by, "");
	/* a value label_windows does not name is in the stage's group ("") */
	return json_is_integer(at) ? json_integer_value(at) : r->opens_at;
}

/* One entry of "models" for model m, or nothing when the class has no
 * variant. A device held for its stage's maintenance window keeps the
 * answer it had (pin or stable), told when the window opens and, for the
 * DDI path, what it will get then ("pending"); with no stable version its
 * entry has "version": null (nothing to install now) and those two; a device of a rollback
 * waiting for a window keeps the rolled-back version until then. */
static void desired_model(void *ctx, const char *name, void *val)
{
	struct desired_ctx *d = ctx;
	const struct snap_model *m = val;
	const char *version = m->stable, *pin, *kept;
	const struct snap_rollout *r = NULL, *shadow = NULL;
	int member = m->rollout ? membership(d->cls, m->rollout->id) : 0;
	json_t *e, *pending = NULL;

	/* a platform kept back from the stable version, and a variant a
	 * per-variant rollback sent back: the class's platform decides
	 * (docs/judge.md) */
	if ((kept = json_string_value(json_object_get(m->by_platform, d->cls->platform))) != NULL)
		version = kept;
	if (member != 0 && platform_back(m->rollout, d->cls->platform))
		member = 0;
	pin = d->cls->pins ? json_string_value(json_object_get(d->cls->pins, name)) : NULL;
	if (pin)
		version = pin;
	else if (member > 0 && m->rollout->shadow > 0) {
		/* a shadow stage: keep serving, run the candidate beside it */
		if (!m->rollout->reverting)
			shadow = m->rollout;
	} else if (member > 0) {
		r = m->rollout;
		version = r->version;
	} else if (member < 0 && !m->rollout->reverting && m->rollout->shadow == 0)
		/* (held for a shadow stage: nothing pending, it would never be installed) */
		pending = model_entry(d, name, m->rollout->version, m->rollout);
	if (version == NULL && pending) /* no stable version: nothing to run yet */
		e = json_pack("{s:s, s:s, s:n, s:n}", "model", name, "platform", d->cls->platform,
			      "version", "rollout");
	else if (version == NULL || (e = model_entry(d, name, version, r)) == NULL) {
		json_decref(pending);
		return;
	}
	if (e == NULL) {
		json_decref(pending);
		return;
	}
	if (shadow)
		add_shadow(d, e, name, shadow);
	if (pending) {
		int64_t at = held_opens_at(d->cls, m->rollout);
		json_object_del(json_object_get(pending, "rollout"), "window");
		json_object_set_new(e, "pending", pending);
		if (at)
			set_next_window(e, at);
	} else if (r && r->reverting && r->opens_at)
		set_next_window(e, r->opens_at);
	json_array_append_new(d->models, e);
}

static int cmp_model(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	return strcmp(json_string_value(json_object_get(x, "model")),
		      json_string_value(json_object_get(y, "model")));
}

/* The "models" array for class c (malloc'd), sorted by model so equal
 * answers have equal text; *tree the same array as JSON (the caller's). */
static char *models_text(const struct catalog *cat, const struct snap_class *c,
			 const char *server_url, json_t **tree)
{
	struct desired_ctx dc = {cat, c, server_url, json_array()};
	size_t n;
	json_t **items, *sorted;
	char *text;

	if (dc.models == NULL)
		return NULL;
	strmap_each(cat->models, desired_model, &dc);
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
	*tree = text ? sorted : NULL;
	if (text == NULL)
		json_decref(sorted);
	return text;
}

static void class_free(struct snap_class *c)
{
	if (c == NULL)
		return;
	free(c->key);
	free(c->platform);
	free(c->pins_text);
	json_decref(c->pins);
	free(c->running_text);
	json_decref(c->running);
	free(c->wlabel);
	free(c->rollouts);
	free(c->text);
	json_decref(c->models);
	free(c);
}

void classes_free(struct snapshot *s)
{
	for (size_t i = 0; i < s->nclasses; i++)
		class_free(s->classes[i]);
	free(s->classes);
	strmap_free(s->class_ids);
	s->classes = NULL;
	s->class_ids = NULL;
	s->nclasses = s->capclasses = 0;
}

static void set_text(struct snap_class *c, char *text, json_t *tree)
{
	free(c->text);
	json_decref(c->models);
	c->models = tree;
	c->text = text;
	c->len = strlen(text);
	c->hash = hash_fnv1a(HASH_FNV1A_BASIS_V0 /* ETags devices hold */, text, c->len);
}

/* The key of a class: platform, pins, running, ramp.window label and
 * rollout ids, \x1f-separated. */
static char *class_key(const char *platform, const char *pins_text, const char *running_text,
		       const char *wlabel, const int64_t *r, size_t n)
{
	size_t cap = strlen(platform) + (pins_text ? strlen(pins_text) : 0) +
		     (running_text ? strlen(running_text) : 0) + (wlabel ? strlen(wlabel) : 0) +
		     24 * n + 6;
	char *key = malloc(cap);
	size_t at;

	if (key == NULL)
		return NULL;
	at = (size_t)snprintf(key, cap, "%s\x1f%s\x1f%s\x1f%s\x1f", platform,
			      pins_text ? pins_text : "", running_text ? running_text : "",
			      wlabel ? wlabel : "");
	for (size_t i = 0; i < n; i++)
		at += (size_t)snprintf(key + at, cap - at, "%lld,", (long long)r[i]);
	return key;
}

static int classes_reserve(struct snapshot *s)
{
	size_t cap = s->capclasses ? 2 * s->capclasses : 64;
	struct snap_class **p;

	if (s->nclasses < s->capclasses)
		return 0;
	if ((p = realloc(s->classes, cap * sizeof(*p))) == NULL)
		return RAMP_ENOMEM;
	s->classes = p;
	s->capclasses = cap;
	return 0;
}

static int class_new(struct snapshot *s, char *key, const char *platform, const char *pins_text,
		     const char *running_text, const char *wlabel, const int64_t *rollouts,
		     size_t n, uint32_t *id)
{
	struct snap_class *c = calloc(1, sizeof(*c));
	char *text;

	if (c == NULL) {
		free(key);
		return RAMP_ENOMEM;
	}
	c->key = key;
	c->platform = strdup(platform);
	c->pins_text = pins_text ? strdup(pins_text) : NULL;
	c->pins = pins_text ? json_loads(pins_text, 0, NULL) : NULL;
	c->running_text = running_text ? strdup(running_text) : NULL;
	c->running = running_text ? json_loads(running_text, 0, NULL) : NULL;
	c->wlabel = wlabel ? strdup(wlabel) : NULL;
	c->rollouts = malloc((n ? n : 1) * sizeof(*rollouts));
	if (c->platform == NULL || (pins_text && (!c->pins_text || !c->pins)) ||
	    (wlabel && !c->wlabel) ||
	    (running_text && (!c->running_text || !c->running)) ||
	    c->rollouts == NULL || classes_reserve(s) != 0) {
		class_free(c);
		return RAMP_ENOMEM;
	}
	if (n)
		memcpy(c->rollouts, rollouts, n * sizeof(*rollouts));
	c->nrollouts = n;
	if (!s->deferred) {
		json_t *tree;
		if ((text = models_text(s->cat, c, s->server_url, &tree)) == NULL) {
			class_free(c);
			return RAMP_ENOMEM;
		}
		set_text(c, text, tree);
	}
	if (strmap_set(s->class_ids, key, (void *)(uintptr_t)(s->nclasses + 1)) != 0) {
		class_free(c);
		return RAMP_ENOMEM;
	}
	s->classes[s->nclasses] = c;
	*id = (uint32_t)s->nclasses++;
	return 0;
}

int class_find(struct snapshot *s, const char *platform, const char *pins_text,
	       const char *running_text, const char *wlabel, const int64_t *rollouts, size_t n,
	       uint32_t *id)
{
	char *key = class_key(platform, pins_text, running_text, wlabel, rollouts, n);
	uintptr_t got;

	if (key == NULL)
		return RAMP_ENOMEM;
	if ((got = (uintptr_t)strmap_get(s->class_ids, key)) != 0) {
		free(key);
		*id = (uint32_t)(got - 1);
		return 0;
	}
	return class_new(s, key, platform, pins_text, running_text, wlabel, rollouts, n, id);
}

static bool active(const struct snapshot *s, int64_t r)
{
	char key[32];

	snprintf(key, sizeof(key), "%lld", (long long)r);
	return strmap_get(s->cat->rollouts, key) != NULL;
}

int class_with(struct snapshot *s, uint32_t cls, int64_t r, uint32_t *id)
{
	const struct snap_class *c = s->classes[cls];
	int64_t *ids;
	size_t n = 0;
	int rc;

	if (assigned_to(c, r)) {
		*id = cls;
		return 0;
	}
	if ((ids = malloc((c->nrollouts + 1) * sizeof(*ids))) == NULL)
		return RAMP_ENOMEM;
	/* ascending by |id|, r replacing its other sign (held or released);
	 * rollouts that have ended since are dropped on the way */
	for (size_t i = 0; i <= c->nrollouts; i++) {
		int64_t x = i < c->nrollouts ? c->rollouts[i] : INT64_MAX;
		if (llabs(r) <= llabs(x) && (n == 0 || llabs(ids[n - 1]) < llabs(r)))
			ids[n++] = r;
		if (i < c->nrollouts && llabs(x) != llabs(r) && active(s, llabs(x)))
			ids[n++] = x;
	}
	rc = class_find(s, c->platform, c->pins_text, c->running_text, c->wlabel, ids, n, id);
	free(ids);
	return rc;
}

int classes_recompute(struct snapshot *s)
{
	char **texts = calloc(s->nclasses + 1, sizeof(*texts));
	json_t **trees = calloc(s->nclasses + 1, sizeof(*trees));
	int rc = texts && trees ? 0 : RAMP_ENOMEM;

	/* all or nothing: a class never answers from a catalog its
	 * neighbours have left */
	for (size_t i = 0; i < s->nclasses && rc == 0; i++)
		if ((texts[i] = models_text(s->cat, s->classes[i], s->server_url, &trees[i])) ==
		    NULL)
			rc = RAMP_ENOMEM;
	for (size_t i = 0; texts && trees && i < s->nclasses; i++) {
		if (rc == 0) {
			set_text(s->classes[i], texts[i], trees[i]);
		} else {
			free(texts[i]);
			json_decref(trees[i]);
		}
	}
	free(texts);
	free(trees);
	return rc;
}
