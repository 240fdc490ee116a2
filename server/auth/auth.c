/*
 * auth.c - token lookup with a small time-bounded cache in front of the
 * tokens table.
 */
#include "auth/auth.h"

#include "common/clock.h"
#include "common/hex.h"
#include "common/log.h"
#include "domain/device_id.h"

#include <jansson.h>
#include "snapshot/snapshot.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CACHE_BUCKETS 65536

struct centry {
	struct centry *next;
	unsigned char hash[32];
	int role;
	int64_t at_ms;
	int64_t expires_at; /* unix s, 0: never */
	char *name, *device_id;
};

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
/* Bumped by every auth_cache_clear(): a lookup that read the database
 * before a clear must not put its (maybe revoked) answer back after it. */
static atomic_uint_least64_t cache_gen;

/* Names of (non-device) tokens used since the last flush: last_used is
 * written in one statement a second, not once per request. */
static pthread_mutex_t used_mu = PTHREAD_MUTEX_INITIALIZER;
static json_t *used;
static struct centry *cache[CACHE_BUCKETS];

static const char *const role_names[ROLE_COUNT] = {
#define ROLE_NAME_(N, n, i, t) [i] = n,
	RAMP_ROLES(ROLE_NAME_)
#undef ROLE_NAME_
};

const char *auth_role_name(int role)
{
	for (int i = 0; i < ROLE_COUNT; i++)
		if (role == (1 << i))
			return role_names[i];
	return "unknown";
}

int auth_role_from_name(const char *name)
{
	for (int i = 0; name && i < ROLE_COUNT; i++)
		if (strcmp(name, role_names[i]) == 0)
			return 1 << i;
	return 0;
}

void auth_hash(const char *token, unsigned char out[32])
{
	unsigned int n = 32;
	EVP_Digest(token, strlen(token), out, &n, EVP_sha256(), NULL);
}

int auth_new_token(char *out)
{
	unsigned char raw[24];
	unsigned char b64[40];
	int n;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return RAMP_EINTERNAL;
	n = EVP_EncodeBlock(b64, raw, sizeof(raw)); /* 32 chars, no padding for 24 bytes */
	for (int i = 0; i < n; i++)
		b64[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
	snprintf(out, AUTH_TOKEN_LEN + 1, "rmp_%.*s", n, b64);
	return 0;
}

static void centry_free(struct centry *e)
{
	free(e->name);
	free(e->device_id);
	free(e);
}

void auth_cache_clear(void)
{
	pthread_mutex_lock(&cache_mu);
	atomic_fetch_add(&cache_gen, 1);
	for (size_t i = 0; i < CACHE_BUCKETS; i++) {
		struct centry *e = cache[i], *next;
		for (; e; e = next) {
			next = e->next;
			centry_free(e);
		}
		cache[i] = NULL;
	}
	pthread_mutex_unlock(&cache_mu);
}

static bool cache_get(const unsigned char h[32], struct arena *a, struct auth *out)
{
	size_t b = ((size_t)h[0] << 8 | h[1]) % CACHE_BUCKETS;
	int64_t now = clock_mono_ms();
	bool hit = false;

	pthread_mutex_lock(&cache_mu);
	for (struct centry *e = cache[b]; e; e = e->next) {
		if (CRYPTO_memcmp(e->hash, h, 32) != 0)
			continue;
		if (now - e->at_ms <= AUTH_CACHE_TTL_MS &&
		    (e->expires_at == 0 || e->expires_at > (int64_t)time(NULL))) {
			out->role = e->role;
			out->name = arena_strdup(a, e->name);
			out->device_id = arena_strdup(a, e->device_id);
			hit = true;
		}
		break;
	}
	pthread_mutex_unlock(&cache_mu);
	return hit;
}

static void cache_put(const unsigned char h[32], const struct auth *in, int64_t expires_at,
		      uint64_t gen)
{
	size_t b = ((size_t)h[0] << 8 | h[1]) % CACHE_BUCKETS;
	struct centry *e = calloc(1, sizeof(*e)), **pp;

	if (e == NULL)
		return;
	memcpy(e->hash, h, 32);
	e->role = in->role;
	e->at_ms = clock_mono_ms();
	e->expires_at = expires_at;
	e->name = strdup(in->name);
	e->device_id = in->device_id ? strdup(in->device_id) : NULL;
	if (e->name == NULL) {
		centry_free(e);
		return;
	}
	pthread_mutex_lock(&cache_mu);
	if (atomic_load(&cache_gen) != gen) { /* cleared since the query began */
		pthread_mutex_unlock(&cache_mu);
		centry_free(e);
		return;
	}
	/* drop the same token's older entry and anything stale in this bucket */
	for (pp = &cache[b]; *pp;) {
		struct centry *x = *pp;
		if (memcmp(x->hash, h, 32) == 0 || e->at_ms - x->at_ms > AUTH_CACHE_TTL_MS) {
			*pp = x->next;
			centry_free(x);
		} else {
			pp = &x->next;
		}
	}
	e->next = cache[b];
	cache[b] = e;
	pthread_mutex_unlock(&cache_mu);
}

/* Device tokens are answered from the request's snapshot: no lock, no
 * query. *gen: the generation of the snapshot that answered. */
static bool snapshot_lookup(struct snapshot *s, const unsigned char h[32], struct arena *a,
			    struct auth *out, uint64_t *gen)
{
	char id[DEVICE_ID_MAX + 1];
	const char *dev = id;

	if (s == NULL || !snapshot_token_device(s, h, id, sizeof(id), gen))
		dev = NULL;
	if (dev) {
		out->role = ROLE_DEVICE;
		out->device_id = arena_strdup(a, dev);
		out->name = arena_printf(a, "device:%s", dev);
	}
	return dev != NULL && out->device_id && out->name;
}

static void note_used(const char *name)
{
	pthread_mutex_lock(&used_mu);
	if (used == NULL)
		used = json_object();
	if (used && name)
		json_object_set_new(used, name, json_true());
	pthread_mutex_unlock(&used_mu);
}

int auth_flush_last_used(struct app *app)
{
	json_t *names, *arr = json_array();
	const char *k;
	json_t *v;
	int rc = 0;

	pthread_mutex_lock(&used_mu);
	names = used;
	used = NULL;
	pthread_mutex_unlock(&used_mu);
	json_object_foreach(names, k, v)
		json_array_append_new(arr, json_string(k));
	if (json_array_size(arr) > 0)
		rc = store_tokens_used(app->db, arr);
	json_decref(arr);
	json_decref(names);
	return rc;
}

/* --- revocations on this replica ---
 * An entry lives from auth_revoke_begin() until no path can let the
 * credential through any more: while the delete is pending every lookup
 * refuses it; once committed the database and the (cleared) cache say so,
 * and the entry overrules only snapshots built before the commit; it goes
 * when a newer snapshot is current and telemetry authenticated before it
 * can no longer be on its way to the writer (REVOKED_KEEP_MS). */
#define REVOKED_KEEP_MS (300 * 1000)

struct revoked {
	struct revoked *next;
	uint64_t seq;      /* the epoch this revocation began */
	uint64_t snap_gen; /* once committed: snapshots up to it predate it */
	bool pending;
	int64_t done_ms;
	char *device_id, *name; /* what is revoked; either may be NULL */
};

static pthread_mutex_t rev_mu = PTHREAD_MUTEX_INITIALIZER;
static struct revoked *revoked;
static int64_t pruned_ms; /* rev_mu */
static atomic_int nrevoked;
static atomic_uint_least64_t epoch_ctr = 1;

uint64_t auth_epoch(void)
{
	return atomic_load(&epoch_ctr);
}

static void revoked_free(struct revoked *e)
{
	free(e->device_id);
	free(e->name);
	free(e);
}

/* Drops entries nothing can need any more; rev_mu held. */
static void revoked_prune(void)
{
	struct snapshot *s = snapshot_acquire();
	uint64_t cur = s ? snapshot_generation(s) : 0;
	int64_t now = clock_mono_ms();

	snapshot_release(s);
	pruned_ms = now;
	for (struct revoked **pp = &revoked; *pp;) {
		struct revoked *e = *pp;
		if (!e->pending && cur > e->snap_gen && now - e->done_ms > REVOKED_KEEP_MS) {
			*pp = e->next;
			revoked_free(e);
			atomic_fetch_sub(&nrevoked, 1);
		} else {
			pp = &e->next;
		}
	}
}

uint64_t auth_revoke_begin(const char *device_id, const char *name)
{
	struct revoked *e = calloc(1, sizeof(*e));

	if (e == NULL || (device_id && (e->device_id = strdup(device_id)) == NULL) ||
	    (name && (e->name = strdup(name)) == NULL)) {
		if (e)
			revoked_free(e);
		return 0;
	}
	e->pending = true;
	pthread_mutex_lock(&rev_mu);
	revoked_prune();
	/* numbered and listed under one lock: a lookup that read the old epoch
	 * is caught by the seq check, one that read the new one sees the entry */
	e->seq = atomic_fetch_add(&epoch_ctr, 1) + 1;
	e->next = revoked;
	revoked = e;
	atomic_fetch_add(&nrevoked, 1);
	pthread_mutex_unlock(&rev_mu);
	return e->seq;
}

static struct revoked *revoked_find(uint64_t seq)
{
	for (struct revoked *e = revoked; e; e = e->next)
		if (e->seq == seq)
			return e;
	return NULL;
}

void auth_revoke_done(uint64_t handle, uint64_t applied)
{
	struct revoked *e;

	pthread_mutex_lock(&rev_mu);
	if ((e = revoked_find(handle)) != NULL) {
		e->pending = false;
		e->done_ms = clock_mono_ms();
		/* a snapshot at generation applied or later holds the change; a
		 * change numbered later than now begins reading after the commit */
		e->snap_gen = applied ? applied - 1 : snapshot_started();
	}
	pthread_mutex_unlock(&rev_mu);
	auth_cache_clear();
}

void auth_revoke_cancel(uint64_t handle)
{
	pthread_mutex_lock(&rev_mu);
	for (struct revoked **pp = &revoked; *pp; pp = &(*pp)->next) {
		if ((*pp)->seq == handle) {
			struct revoked *e = *pp;
			*pp = e->next;
			revoked_free(e);
			atomic_fetch_sub(&nrevoked, 1);
			break;
		}
	}
	pthread_mutex_unlock(&rev_mu);
}

static bool same(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* True when a lookup's answer must be refused: its device or token is being
 * revoked, or (snap_gen != 0) it came from a snapshot built before its
 * device's deletion committed. */
static bool refused_now(const struct auth *out, uint64_t snap_gen)
{
	bool hit = false;

	if (atomic_load(&nrevoked) == 0)
		return false;
	pthread_mutex_lock(&rev_mu);
	if (clock_mono_ms() - pruned_ms > 1000)
		revoked_prune(); /* so the fast path above comes back */
	for (struct revoked *e = revoked; e && !hit; e = e->next) {
		bool dev = same(e->device_id, out->device_id);
		if (dev || same(e->name, out->name))
			hit = e->pending || (dev && snap_gen && snap_gen <= e->snap_gen);
	}
	pthread_mutex_unlock(&rev_mu);
	return hit;
}

bool auth_device_overruled(const char *device_id, uint64_t snap_gen)
{
	struct auth a = {.device_id = device_id};

	return refused_now(&a, snap_gen);
}

bool auth_revoked_since(const struct auth *a, const char *device_id)
{
	bool hit = false;

	if (atomic_load(&nrevoked) == 0)
		return false;
	pthread_mutex_lock(&rev_mu);
	for (struct revoked *e = revoked; e && !hit; e = e->next)
		hit = e->seq > a->epoch &&
		      (same(e->device_id, a->device_id) || same(e->device_id, device_id) ||
		       same(e->name, a->name));
	pthread_mutex_unlock(&rev_mu);
	return hit;
}

int auth_lookup(struct app *app, const char *token, struct arena *a, struct auth *out)
{
	return auth_lookup_in(app, NULL, token, a, out, true);
}

int auth_lookup_in(struct app *app, struct snapshot *snap, const char *token,
		   struct arena *a, struct auth *out, bool may_query)
{
	unsigned char h[32];
	char role[16];
	int64_t expires_at = 0;
	uint64_t gen = 0;
	int rc;

	if (strlen(token) > 256)
		return RAMP_EAUTH;
	/* before anything is looked at: what this request stores later is
	 * refused if a revocation numbered after this began meanwhile */
	out->epoch = auth_epoch();
	auth_hash(token, h);
	if (snapshot_lookup(snap, h, a, out, &gen))
		return refused_now(out, gen) ? RAMP_EAUTH : 0;
	if (cache_get(h, a, out)) {
		if (refused_now(out, 0))
			return RAMP_EAUTH;
		if (out->role != ROLE_DEVICE) /* device tokens' last use is last_seen */
			note_used(out->name);
		return 0;
	}
	if (!may_query)
		return RAMP_EBUSY; /* only the database knows: ask again where waiting is cheap */
	gen = atomic_load(&cache_gen);
	rc = store_token_lookup(app->db, h, a, role, sizeof(role), &out->name, &out->device_id,
				&expires_at);
	if (rc == RAMP_ENOTFOUND)
		return RAMP_EAUTH;
	if (rc)
		return rc;
	out->role = auth_role_from_name(role);
	/* a device is one actor whichever of its tokens it uses (rotation) */
	if (out->role == ROLE_DEVICE && out->device_id &&
	    (out->name = arena_printf(a, "device:%s", out->device_id)) == NULL)
		return RAMP_ENOMEM;
	cache_put(h, out, expires_at, gen);
	if (refused_now(out, 0))
		return RAMP_EAUTH;
	if (out->role != ROLE_DEVICE)
		note_used(out->name);
	return 0;
}

static int read_token_file(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return RAMP_EIO;
	if (fgets(buf, (int)len, f) == NULL) {
		fclose(f);
		return RAMP_EIO;
	}
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
	return buf[0] ? 0 : RAMP_EINVAL;
}

static int write_token_file(const char *path, const char *tok)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	size_t n = strlen(tok);

	if (fd < 0)
		return RAMP_EIO;
	if (write(fd, tok, n) != (ssize_t)n || write(fd, "\n", 1) != 1) {
		close(fd);
		return RAMP_EIO;
	}
	fchmod(fd, 0600);
	return close(fd) == 0 ? 0 : RAMP_EIO;
}

int auth_bootstrap(struct app *app, char *shown, size_t shown_len, int *generated)
{
	char tok[300], path[4200], abs[PATH_MAX];
	unsigned char h[32];
	int rc;

	*generated = 0;
	snprintf(path, sizeof(path), "%s/admin.token", app->cfg.data_dir);
	if (app->cfg.admin_token[0]) {
		snprintf(tok, sizeof(tok), "%s", app->cfg.admin_token);
	} else if (read_token_file(path, tok, sizeof(tok)) != 0) {
		if (auth_new_token(tok) != 0 || write_token_file(path, tok) != 0) {
			log_error("msg=\"could not write admin token\" path=%s error=\"%s\"",
				  path, strerror(errno));
			return RAMP_EIO;
		}
		log_info("msg=\"generated admin token\" path=%s", path);
		*generated = 1;
	}
	auth_hash(tok, h);
	rc = store_token_bootstrap(app->db, h);
	if (rc) {
		log_error("msg=\"could not install admin token\" error=\"%s\"", ramp_strerror(rc));
		return rc;
	}
	/* the token itself only when nobody has seen it yet: logs outlive it */
	if (*generated)
		snprintf(shown, shown_len, "%s", tok);
	else if (app->cfg.admin_token[0])
		snprintf(shown, shown_len, "from RAMP_ADMIN_TOKEN");
	else
		snprintf(shown, shown_len, "%s", realpath(path, abs) ? abs : path);
	return 0;
}
