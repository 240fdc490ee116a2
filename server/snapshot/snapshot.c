/*
 * snapshot.c - the agent-poll snapshot as an object: the current pointer
 * and its references, its lock, the lookups by device and token, and the
 * desired answer read from it. Loading it and changing it are build.c's;
 * the answer classes are answers.c's.
 *
 * Readers take the read lock for one lookup and copy out what they need;
 * a change (build.c) takes the write lock only to apply what it has read
 * already. A whole rebuild (start-up, recovery) makes a new object off to
 * the side and swaps the current pointer; a request that holds the old
 * one keeps reading it until it completes.
 */
#include "snapshot/snapshot_int.h"

#include "common/hash.h"
#include "common/strmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t cur_mu = PTHREAD_MUTEX_INITIALIZER;
static struct snapshot *cur;

struct snapshot *snapshot_new(const char *server_url)
{
	struct snapshot *s = calloc(1, sizeof(*s));
	pthread_rwlockattr_t at;

	if (s == NULL)
		return NULL;
	atomic_init(&s->refs, 1);
	pthread_rwlockattr_init(&at);
	/* a change waits for the polls in flight, not for every poll to come */
	pthread_rwlockattr_setkind_np(&at, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&s->lock, &at);
	pthread_rwlockattr_destroy(&at);
	s->server_url = server_url ? server_url : "";
	s->fleet = fleet_new();
	s->cat = catalog_new();
	s->class_ids = strmap_new();
	if (!s->fleet || !s->cat || !s->class_ids) {
		snapshot_free(s);
		return NULL;
	}
	return s;
}

void snapshot_free(struct snapshot *s)
{
	if (s == NULL)
		return;
	fleet_free(s->fleet);
	catalog_free(s->cat);
	classes_free(s);
	pthread_rwlock_destroy(&s->lock);
	free(s);
}

struct snapshot *snapshot_swap(struct snapshot *s)
{
	struct snapshot *old;

	pthread_mutex_lock(&cur_mu);
	old = cur;
	cur = s;
	pthread_mutex_unlock(&cur_mu);
	return old;
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
	snapshot_release(snapshot_swap(NULL));
}

uint64_t snapshot_generation(struct snapshot *s)
{
	uint64_t g;

	pthread_rwlock_rdlock(&s->lock);
	g = s->generation;
	pthread_rwlock_unlock(&s->lock);
	return g;
}

bool snapshot_has_device(struct snapshot *s, const char *device_id, uint64_t *gen)
{
	bool has;

	pthread_rwlock_rdlock(&s->lock);
	has = fleet_find(s->fleet, device_id) != FLEET_NONE;
	if (gen)
		*gen = s->generation;
	pthread_rwlock_unlock(&s->lock);
	return has;
}

bool snapshot_token_device(struct snapshot *s, const unsigned char h[32], char *id, size_t idlen,
			   uint64_t *gen)
{
	uint32_t i;
	bool ok = false;

	pthread_rwlock_rdlock(&s->lock);
	i = fleet_find_token(s->fleet, h, (int64_t)time(NULL));
	if (i != FLEET_NONE) {
		const char *d = fleet_get(s->fleet, i)->id;
		ok = strlen(d) < idlen;
		if (ok)
			memcpy(id, d, strlen(d) + 1);
	}
	*gen = s->generation;
	pthread_rwlock_unlock(&s->lock);
	return ok;
}

/* The answer is a function of (models text, device id, poll interval):
 * its ETag hashes those, so a 304 needs no answer built at all. */
static void etag_of(uint64_t text_hash, const char *device_id, int poll_after_s, char etag[24])
{
	uint64_t h = hash_fnv1a(text_hash, device_id, strlen(device_id));

	h = hash_fnv1a(h, (const char *)&poll_after_s, sizeof(poll_after_s));
	snprintf(etag, 24, "\"%016llx\"", (unsigned long long)h);
}

/* The class of device_id, or NULL; read lock held. */
static const struct snap_class *class_of(struct snapshot *s, const char *device_id)
{
	uint32_t i = fleet_find(s->fleet, device_id);

	return i == FLEET_NONE ? NULL : s->classes[fleet_get(s->fleet, i)->cls];
}

/* The answer text for class c and device_id (malloc'd) with its length. */
static char *answer_text(const struct snap_class *c, const char *device_id, int poll_after_s,
			 size_t *len)
{
	static const char head[] = "{\"device_id\":\"", mid[] = "\",\"models\":",
			  tail[] = ",\"poll_after_s\":";
	size_t idlen = strlen(device_id), cap, n = 0;
	char *text, num[16];
	int nl = snprintf(num, sizeof(num), "%d}", poll_after_s);

	/* device ids are [A-Za-z0-9._:-]: nothing to escape */
	cap = sizeof(head) + idlen + sizeof(mid) + c->len + sizeof(tail) + (size_t)nl;
	if ((text = malloc(cap)) == NULL)
		return NULL;
	memcpy(text + n, head, sizeof(head) - 1), n += sizeof(head) - 1;
	memcpy(text + n, device_id, idlen), n += idlen;
	memcpy(text + n, mid, sizeof(mid) - 1), n += sizeof(mid) - 1;
	memcpy(text + n, c->text, c->len), n += c->len;
	memcpy(text + n, tail, sizeof(tail) - 1), n += sizeof(tail) - 1;
	memcpy(text + n, num, (size_t)nl + 1), n += (size_t)nl;
	*len = n;
	return text;
}

static void note_poll(struct fleet_dev *d, const char *agent_version);

int snapshot_desired(struct snapshot *s, const char *device_id, int poll_after_s, char **text,
		     size_t *len, char etag[24])
{
	const struct snap_class *c;
	int rc = RAMP_ENOTFOUND;

	*text = NULL;
	pthread_rwlock_rdlock(&s->lock);
	if ((c = class_of(s, device_id)) != NULL) {
		etag_of(c->hash, device_id, poll_after_s, etag);
		rc = (*text = answer_text(c, device_id, poll_after_s, len)) ? 0 : RAMP_ENOMEM;
	}
	pthread_rwlock_unlock(&s->lock);
	return rc;
}

struct each_answer {
	struct snapshot *s;
	void (*fn)(void *ctx, const char *id, uint64_t hash);
	void *ctx;
};

static void each_answer_one(void *ctx, uint32_t idx, const struct fleet_dev *d)
{
	struct each_answer *e = ctx;

	(void)idx;
	e->fn(e->ctx, d->id, e->s->classes[d->cls]->hash);
}

void snapshot_each_answer(struct snapshot *s, void (*fn)(void *ctx, const char *id, uint64_t hash),
			  void *ctx)
{
	struct each_answer e = {s, fn, ctx};

	pthread_rwlock_rdlock(&s->lock);
	fleet_each(s->fleet, each_answer_one, &e);
	pthread_rwlock_unlock(&s->lock);
}

int snapshot_poll(struct snapshot *s, const char *device_id, int poll_after_s,
		  const char *agent_version, const char *if_none_match, char **text, size_t *len,
		  char etag[24])
{
	const struct snap_class *c = NULL;
	uint32_t i;
	int rc;

	*text = NULL;
	pthread_rwlock_rdlock(&s->lock);
	if ((i = fleet_find(s->fleet, device_id)) != FLEET_NONE) {
		c = s->classes[fleet_get(s->fleet, i)->cls];
		note_poll(fleet_poll_rec(s->fleet, i), agent_version);
		etag_of(c->hash, device_id, poll_after_s, etag);
	}
	if (c == NULL)
		rc = SNAPSHOT_POLL_UNKNOWN;
	else if (if_none_match && strcmp(if_none_match, etag) == 0)
		rc = SNAPSHOT_POLL_SAME; /* the hot path: nothing changed, nothing built */
	else
		rc = (*text = answer_text(c, device_id, poll_after_s, len)) ? SNAPSHOT_POLL_ANSWER
									     : RAMP_ENOMEM;
	pthread_rwlock_unlock(&s->lock);
	return rc;
}

int snapshot_desired_models(struct snapshot *s, const char *device_id, int poll_after_s,
			    json_t **models, char etag[24])
{
	const struct snap_class *c;
	int rc;

	*models = NULL;
	pthread_rwlock_rdlock(&s->lock);
	c = class_of(s, device_id);
	rc = c == NULL ? RAMP_ENOTFOUND : c->models == NULL ? RAMP_EINTERNAL : 0;
	if (rc == 0 && (*models = json_deep_copy(c->models)) == NULL)
		rc = RAMP_ENOMEM;
	if (rc == 0)
		etag_of(c->hash, device_id, poll_after_s, etag);
	pthread_rwlock_unlock(&s->lock);
	return rc;
}

/* --- polls: last seen and agent version, in the device's record --- */

/* Agent versions as sent, each kept once (a fleet runs a handful); a
 * record holds the number. Entries are written once, under ver_mu, before
 * any record names them, and never freed. */
#define VERSIONS_MAX 4096
#define VERSION_LEN 63

static pthread_mutex_t ver_mu = PTHREAD_MUTEX_INITIALIZER;
static char *versions[VERSIONS_MAX];
static struct strmap *version_ids;
static uint16_t nversions = 1;

/* The number of version v (truncated as stored), made when new; 0 when the
 * table is full or out of memory (the version is then not recorded). */
static uint16_t version_id(const char *v)
{
	char cut[VERSION_LEN + 1];
	uintptr_t got;
	uint16_t id = 0;

	snprintf(cut, sizeof(cut), "%s", v);
	pthread_mutex_lock(&ver_mu);
	if (version_ids == NULL)
		version_ids = strmap_new();
	if (version_ids && (got = (uintptr_t)strmap_get(version_ids, cut)) != 0) {
		id = (uint16_t)got;
	} else if (version_ids && nversions < VERSIONS_MAX &&
		   (versions[nversions] = strdup(cut)) != NULL &&
		   strmap_set(version_ids, cut, (void *)(uintptr_t)nversions) == 0) {
		id = nversions++;
	}
	pthread_mutex_unlock(&ver_mu);
	return id;
}

/* Notes a poll in record d: its second and, when sent, the agent version.
 * Read lock held: __atomic stores only, and no allocation unless the
 * version is one never seen before. */
static void note_poll(struct fleet_dev *d, const char *agent_version)
{
	uint32_t now = (uint32_t)time(NULL);
	uint16_t held = __atomic_load_n(&d->version, __ATOMIC_ACQUIRE), v;

	if (__atomic_load_n(&d->seen, __ATOMIC_RELAXED) != now)
		__atomic_store_n(&d->seen, now, __ATOMIC_RELAXED);
	/* versions are kept cut to VERSION_LEN bytes: compare as stored */
	if (agent_version && agent_version[0] &&
	    (held == 0 || strncmp(versions[held], agent_version, VERSION_LEN) != 0 ||
	     strlen(versions[held]) != strnlen(agent_version, VERSION_LEN)) &&
	    (v = version_id(agent_version)) != 0)
		__atomic_store_n(&d->version, v, __ATOMIC_RELEASE);
}

void snapshot_note_poll(struct snapshot *s, const char *device_id, const char *agent_version)
{
	uint32_t i;

	pthread_rwlock_rdlock(&s->lock);
	if ((i = fleet_find(s->fleet, device_id)) != FLEET_NONE)
		note_poll(fleet_poll_rec(s->fleet, i), agent_version);
	pthread_rwlock_unlock(&s->lock);
}

struct seen_walk {
	uint32_t since;
	void (*fn)(void *ctx, const char *id, uint32_t seen, const char *version);
	void *ctx;
};

static void seen_one(void *ctx, uint32_t idx, const struct fleet_dev *d)
{
	struct seen_walk *w = ctx;
	uint32_t seen = __atomic_load_n(&d->seen, __ATOMIC_RELAXED);
	uint16_t v = __atomic_load_n(&d->version, __ATOMIC_ACQUIRE);

	(void)idx;
	if (seen && seen >= w->since)
		w->fn(w->ctx, d->id, seen, v ? versions[v] : NULL);
}

void snapshot_seen_since(struct snapshot *s, uint32_t since,
			 void (*fn)(void *ctx, const char *id, uint32_t seen, const char *version),
			 void *ctx)
{
	struct seen_walk w = {since, fn, ctx};

	pthread_rwlock_rdlock(&s->lock);
	fleet_each(s->fleet, seen_one, &w);
	pthread_rwlock_unlock(&s->lock);
}
