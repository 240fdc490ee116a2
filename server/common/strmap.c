/*
 * strmap.c - linear probing, power-of-two capacity, FNV-1a hashes; grows
 * at 50% load.
 */
#include "common/strmap.h"

#include "common/err.h"
#include "common/hash.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct slot {
	char *key;
	void *val;
	uint64_t hash;
};

struct strmap {
	struct slot *slots;
	size_t cap, n;
	int borrowed; /* keys are the caller's, not copies */
};

struct strmap *strmap_new(void)
{
	struct strmap *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->cap = 16;
	m->slots = calloc(m->cap, sizeof(*m->slots));
	if (m->slots == NULL) {
		free(m);
		return NULL;
	}
	return m;
}

struct strmap *strmap_new_borrowed(void)
{
	struct strmap *m = strmap_new();

	if (m)
		m->borrowed = 1;
	return m;
}

void strmap_free(struct strmap *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; !m->borrowed && i < m->cap; i++)
		free(m->slots[i].key);
	free(m->slots);
	free(m);
}

static struct slot *find(const struct strmap *m, const char *key, uint64_t h)
{
	size_t i = h & (m->cap - 1);

	while (m->slots[i].key) {
		if (m->slots[i].hash == h && strcmp(m->slots[i].key, key) == 0)
			return &m->slots[i];
		i = (i + 1) & (m->cap - 1);
	}
	return &m->slots[i];
}

static int grow(struct strmap *m)
{
	struct slot *old = m->slots;
	size_t oldcap = m->cap;

	m->slots = calloc(oldcap * 2, sizeof(*m->slots));
	if (m->slots == NULL) {
		m->slots = old;
		return RAMP_ENOMEM;
	}
	m->cap = oldcap * 2;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].key)
			*find(m, old[i].key, old[i].hash) = old[i];
	free(old);
	return 0;
}

int strmap_set(struct strmap *m, const char *key, void *val)
{
	uint64_t h = hash_fnv1a_str(HASH_FNV1A_BASIS, key);
	struct slot *s;

	if ((m->n + 1) * 2 > m->cap && grow(m) != 0)
		return RAMP_ENOMEM;
	s = find(m, key, h);
	if (s->key == NULL) {
		s->key = m->borrowed ? (char *)key : strdup(key);
		if (s->key == NULL)
			return RAMP_ENOMEM;
		s->hash = h;
		m->n++;
	}
	s->val = val;
	return 0;
}

void *strmap_get(const struct strmap *m, const char *key)
{
	struct slot *s = find(m, key, hash_fnv1a_str(HASH_FNV1A_BASIS, key));

	return s->key ? s->val : NULL;
}

bool strmap_del(struct strmap *m, const char *key)
{
	struct slot *s = find(m, key, hash_fnv1a_str(HASH_FNV1A_BASIS, key));
	size_t mask = m->cap - 1, i, j;

	if (s->key == NULL)
		return false;
	if (!m->borrowed)
		free(s->key);
	/* backward shift: every later key of the run that may live at i moves there */
	for (i = j = (size_t)(s - m->slots);;) {
		size_t home;
		j = (j + 1) & mask;
		if (m->slots[j].key == NULL)
			break;
		home = m->slots[j].hash & mask;
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue; /* its home lies after the hole: it stays */
		m->slots[i] = m->slots[j];
		i = j;
	}
	memset(&m->slots[i], 0, sizeof(m->slots[i]));
	m->n--;
	return true;
}

size_t strmap_size(const struct strmap *m)
{
	return m->n;
}

void strmap_each(const struct strmap *m, void (*fn)(void *ctx, const char *key, void *val),
		 void *ctx)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key)
			fn(ctx, m->slots[i].key, m->slots[i].val);
}
