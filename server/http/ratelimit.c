/*
 * ratelimit.c - token buckets in a striped hash: 256 stripes, each a
 * chained table of 64-bit key hashes (FNV-1a of role and token name; two
 * tokens meeting on one hash would share a bucket, which only ever makes a
 * limit stricter for them). A bucket that has refilled completely holds no
 * information, so a stripe that grows large drops its full buckets.
 */
#include "http/ratelimit.h"

#include "common/hash.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define STRIPES 256
#define INITIAL_BUCKETS 256
#define PRUNE_AT 65536 /* entries in one stripe */

struct entry {
	struct entry *next;
	uint64_t key;
	double tokens;
	int64_t at_ns;
};

struct stripe {
	pthread_mutex_t mu;
	struct entry **tab;
	size_t nb, n;
};

static struct stripe stripes[STRIPES];
static struct config_rate settings[RATELIMIT_ROLES];
static atomic_ullong refused[RATELIMIT_ROLES];

void ratelimit_init(const struct config_rate rates[RATELIMIT_ROLES])
{
	for (int i = 0; i < RATELIMIT_ROLES; i++) {
		settings[i] = rates[i];
		atomic_store(&refused[i], 0);
	}
	for (int i = 0; i < STRIPES; i++) {
		pthread_mutex_init(&stripes[i].mu, NULL);
		stripes[i].tab = NULL;
		stripes[i].nb = stripes[i].n = 0;
	}
}

void ratelimit_shutdown(void)
{
	for (int i = 0; i < STRIPES; i++) {
		struct stripe *s = &stripes[i];
		for (size_t b = 0; b < s->nb; b++) {
			struct entry *e = s->tab[b], *next;
			for (; e; e = next) {
				next = e->next;
				free(e);
			}
		}
		free(s->tab);
		s->tab = NULL;
		s->nb = s->n = 0;
	}
}

static uint64_t hash_key(int role, const char *key)
{
	return hash_fnv1a_str(HASH_FNV1A_BASIS ^ (uint64_t)role, key);
}

static double refill(const struct config_rate *r, const struct entry *e, int64_t now)
{
	double t = e->tokens + (double)(now - e->at_ns) / 1e9 * r->per_s;
	return t > r->burst ? r->burst : t;
}

/* Drops full buckets (they equal a fresh one) from a stripe; locked. */
static void prune(struct stripe *s, const struct config_rate *r, int64_t now)
{
	for (size_t b = 0; b < s->nb; b++)
		for (struct entry **pp = &s->tab[b]; *pp;) {
			struct entry *e = *pp;
			if (refill(r, e, now) >= r->burst) {
				*pp = e->next;
				free(e);
				s->n--;
			} else {
				pp = &e->next;
			}
		}
}

static bool grow(struct stripe *s)
{
	size_t nb = s->nb ? s->nb * 2 : INITIAL_BUCKETS;
	struct entry **tab = calloc(nb, sizeof(*tab));

	if (tab == NULL)
		return false;
	for (size_t b = 0; b < s->nb; b++) {
		struct entry *e = s->tab[b], *next;
		for (; e; e = next) {
			next = e->next;
			e->next = tab[e->key % nb];
			tab[e->key % nb] = e;
		}
	}
	free(s->tab);
	s->tab = tab;
	s->nb = nb;
	return true;
}

/* The entry for key, created full when new; NULL when out of memory. */
static struct entry *find(struct stripe *s, uint64_t key, const struct config_rate *r,
			  int64_t now)
{
	struct entry *e;

	if (s->nb)
		for (e = s->tab[key % s->nb]; e; e = e->next)
			if (e->key == key)
				return e;
	if (s->n >= PRUNE_AT)
		prune(s, r, now);
	if ((s->nb == 0 || s->n >= s->nb * 2) && !grow(s))
		return NULL;
	if ((e = malloc(sizeof(*e))) == NULL)
		return NULL;
	e->key = key;
	e->tokens = r->burst;
	e->at_ns = now;
	e->next = s->tab[key % s->nb];
	s->tab[key % s->nb] = e;
	s->n++;
	return e;
}

int ratelimit_take(int role, const char *key, int64_t now)
{
	const struct config_rate *r;
	struct stripe *s;
	struct entry *e;
	uint64_t h;
	int wait = 0;

	if (role < 0 || role >= RATELIMIT_ROLES || key == NULL)
		return 0;
	r = &settings[role];
	if (r->per_s <= 0)
		return 0;
	h = hash_key(role, key);
	s = &stripes[(h >> 56) % STRIPES];
	pthread_mutex_lock(&s->mu);
	e = find(s, h, r, now);
	if (e) {
		double t = refill(r, e, now);
		e->at_ns = now;
		if (t >= 1) {
			e->tokens = t - 1;
		} else {
			e->tokens = t;
			wait = (int)ceil((1 - t) / r->per_s);
			if (wait < 1)
				wait = 1;
		}
	}
	pthread_mutex_unlock(&s->mu);
	if (wait)
		atomic_fetch_add(&refused[role], 1);
	return wait;
}

void ratelimit_refused(uint64_t out[RATELIMIT_ROLES])
{
	for (int i = 0; i < RATELIMIT_ROLES; i++)
		out[i] = atomic_load(&refused[i]);
}

struct config_rate ratelimit_setting(int role)
{
	struct config_rate none = {0, 0};

	return role >= 0 && role < RATELIMIT_ROLES ? settings[role] : none;
}
