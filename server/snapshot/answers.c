/*
 * answers.c - the desired answer of GET /v1/agent/desired, read from a
 * snapshot. While a snapshot is built (snapshot.c), every device is put in
 * a class of devices that get the same "models" text, and that text is
 * built once per class with its hash; a poll then only splices its device
 * id and poll interval around it and derives the ETag from the hash, so
 * the hot path neither builds JSON nor allocates for an unchanged answer.
 */
#include "snapshot/snapshot_int.h"

#include "common/arena.h"
#include "common/err.h"
#include "common/hash.h"
#include "common/strmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int snapshot_build_answers(struct snapshot *s, const char *server_url)
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
