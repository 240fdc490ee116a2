/*
 * fleet.c - the device table behind agent polls (fleet.h).
 *
 * Both indexes are arrays of 64-bit slots, linear probing, at most 5/8
 * full counting deleted slots: the high half of a slot is 32 bits of the
 * key's hash (a probe rarely touches a record it does not want), the low
 * half the record (or extra token) + 1. 0 is an empty slot, ~0 a deleted
 * one. A token slot whose low half has bit 31 set names an extra token.
 */
#include "snapshot/fleet.h"

#include "common/err.h"
#include "common/hash.h"

#include <stdlib.h>
#include <string.h>

#define SLOT_DEAD UINT64_MAX
#define EXTRA_BIT 0x80000000u

struct extra_tok {
	unsigned char h[32];
	int64_t expires;
	uint32_t dev;  /* FLEET_NONE: a free entry */
	uint32_t next; /* the device's next extra token + 1; or the free list's */
};

struct index {
	uint64_t *slots;
	size_t cap, used, dead; /* cap a power of two */
};

struct fleet {
	struct fleet_dev *recs;
	size_t nrecs, caprecs, live;
	uint32_t *free_recs;
	size_t nfree, capfree;
	struct extra_tok *extras;
	size_t nextras, capextras;
	uint32_t free_extra; /* + 1; 0: none */
	struct index by_id, by_tok;
	size_t id_bytes;
};

static uint64_t id_hash(const char *id)
{
	return hash_fnv1a_str(HASH_FNV1A_BASIS, id);
}

static uint64_t tok_hash(const unsigned char h[32])
{
	uint64_t x;

	memcpy(&x, h, sizeof(x)); /* a SHA-256: any 8 bytes are uniform */
	return x;
}

static uint32_t tag_of(uint64_t h)
{
	return (uint32_t)(h >> 32);
}

struct fleet *fleet_new(void)
{
	return calloc(1, sizeof(struct fleet));
}

void fleet_free(struct fleet *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->nrecs; i++)
		free(f->recs[i].id);
	free(f->recs);
	free(f->free_recs);
	free(f->extras);
	free(f->by_id.slots);
	free(f->by_tok.slots);
	free(f);
}

size_t fleet_size(const struct fleet *f)
{
	return f->live;
}

size_t fleet_bytes(const struct fleet *f)
{
	return f->caprecs * sizeof(*f->recs) + f->capfree * sizeof(*f->free_recs) +
	       f->capextras * sizeof(*f->extras) +
	       (f->by_id.cap + f->by_tok.cap) * sizeof(uint64_t) + f->id_bytes;
}

const struct fleet_dev *fleet_get(const struct fleet *f, uint32_t idx)
{
	return &f->recs[idx];
}

struct fleet_dev *fleet_poll_rec(struct fleet *f, uint32_t idx)
{
	return &f->recs[idx];
}

/* --- the indexes --- */

static const unsigned char *tok_of(const struct fleet *f, uint32_t ref)
{
	return ref & EXTRA_BIT ? f->extras[ref & ~EXTRA_BIT].h : f->recs[ref].tok;
}

/* The slot holding what eq() accepts, or the slot to insert at (*found false). */
static size_t probe(const struct index *x, uint64_t h, bool (*eq)(const struct fleet *, uint32_t,
								  const void *),
		    const struct fleet *f, const void *key, bool *found)
{
	size_t mask = x->cap - 1, i = (size_t)h & mask, grave = SIZE_MAX;
	uint32_t tag = tag_of(h);

	for (;; i = (i + 1) & mask) {
		uint64_t s = x->slots[i];
		if (s == 0) {
			*found = false;
			return grave != SIZE_MAX ? grave : i;
		}
		if (s == SLOT_DEAD) {
			if (grave == SIZE_MAX)
				grave = i;
			continue;
		}
		if ((uint32_t)(s >> 32) == tag && eq(f, (uint32_t)s - 1, key)) {
			*found = true;
			return i;
		}
	}
}

static bool eq_id(const struct fleet *f, uint32_t ref, const void *key)
{
	return strcmp(f->recs[ref].id, key) == 0;
}

static bool eq_tok(const struct fleet *f, uint32_t ref, const void *key)
{
	return memcmp(tok_of(f, ref), key, 32) == 0;
}

static uint64_t hash_ref(const struct fleet *f, const struct index *x, uint32_t ref)
{
	return x == &f->by_id ? id_hash(f->recs[ref].id) : tok_hash(tok_of(f, ref));
}

/* Room for one more key: grows (or cleans out deleted slots) at 5/8. */
static int index_reserve(struct fleet *f, struct index *x)
{
	size_t cap = x->cap ? x->cap : 1024;
	uint64_t *old = x->slots, *slots;
	size_t oldcap = x->cap;

	if (x->slots && (x->used + x->dead + 1) * 8 <= x->cap * 5)
		return 0;
	while ((x->used + 1) * 8 > cap * 4)
		cap *= 2;
	if ((slots = calloc(cap, sizeof(*slots))) == NULL)
		return RAMP_ENOMEM;
	x->slots = slots;
	x->cap = cap;
	x->dead = 0;
	for (size_t i = 0; i < oldcap; i++) {
		uint64_t s = old[i];
		if (s != 0 && s != SLOT_DEAD) {
			size_t j = (size_t)hash_ref(f, x, (uint32_t)s - 1) & (cap - 1);
			while (slots[j])
				j = (j + 1) & (cap - 1);
			slots[j] = s;
		}
	}
	free(old);
	return 0;
}

static void index_put(struct index *x, size_t slot, uint64_t h, uint32_t ref)
{
	if (x->slots[slot] == SLOT_DEAD)
		x->dead--;
	x->slots[slot] = (uint64_t)tag_of(h) << 32 | ((uint64_t)ref + 1);
	x->used++;
}

static void index_drop(struct index *x, size_t slot)
{
	x->slots[slot] = SLOT_DEAD;
	x->used--;
	x->dead++;
}

/* --- lookups --- */

uint32_t fleet_find(const struct fleet *f, const char *id)
{
	bool found;
	size_t i;

	if (f->by_id.cap == 0)
		return FLEET_NONE;
	i = probe(&f->by_id, id_hash(id), eq_id, f, id, &found);
	return found ? (uint32_t)f->by_id.slots[i] - 1 : FLEET_NONE;
}

uint32_t fleet_find_token(const struct fleet *f, const unsigned char h[32], int64_t now)
{
	bool found;
	size_t i;
	uint32_t ref;
	int64_t exp;

	if (f->by_tok.cap == 0)
		return FLEET_NONE;
	i = probe(&f->by_tok, tok_hash(h), eq_tok, f, h, &found);
	if (!found)
		return FLEET_NONE;
	ref = (uint32_t)f->by_tok.slots[i] - 1;
	if (ref & EXTRA_BIT) {
		exp = f->extras[ref & ~EXTRA_BIT].expires;
		ref = f->extras[ref & ~EXTRA_BIT].dev;
	} else {
		exp = f->recs[ref].tok_expires;
	}
	return exp && exp <= now ? FLEET_NONE : ref;
}

/* --- changes --- */

static int grow(void **p, size_t *cap, size_t need, size_t sz)
{
	size_t n = *cap ? *cap : 256;
	void *q;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	if ((q = realloc(*p, n * sz)) == NULL)
		return RAMP_ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

int fleet_put(struct fleet *f, const char *id, uint32_t cls, uint32_t *idx)
{
	uint32_t i = fleet_find(f, id);
	uint64_t h = id_hash(id);
	size_t slot;
	bool found;
	char *copy;

	if (i != FLEET_NONE) {
		f->recs[i].cls = cls;
		*idx = i;
		return 0;
	}
	if (index_reserve(f, &f->by_id) != 0 || (copy = strdup(id)) == NULL)
		return RAMP_ENOMEM;
	if (f->nfree) {
		i = f->free_recs[--f->nfree];
	} else {
		if (f->nrecs >= EXTRA_BIT ||
		    grow((void **)&f->recs, &f->caprecs, f->nrecs + 1, sizeof(*f->recs)) != 0) {
			free(copy);
			return RAMP_ENOMEM;
		}
		i = (uint32_t)f->nrecs++;
	}
	memset(&f->recs[i], 0, sizeof(f->recs[i]));
	f->recs[i].id = copy;
	f->recs[i].cls = cls;
	f->id_bytes += strlen(copy) + 1;
	slot = probe(&f->by_id, h, eq_id, f, id, &found);
	index_put(&f->by_id, slot, h, i);
	f->live++;
	*idx = i;
	return 0;
}

void fleet_set_class(struct fleet *f, uint32_t idx, uint32_t cls)
{
	f->recs[idx].cls = cls;
}

static void drop_token(struct fleet *f, const unsigned char h[32])
{
	bool found;
	size_t slot;

	if (f->by_tok.cap == 0)
		return;
	slot = probe(&f->by_tok, tok_hash(h), eq_tok, f, h, &found);
	if (found)
		index_drop(&f->by_tok, slot);
}

void fleet_clear_tokens(struct fleet *f, uint32_t idx)
{
	struct fleet_dev *d = &f->recs[idx];

	if (d->has_tok)
		drop_token(f, d->tok);
	d->has_tok = 0;
	while (d->extra) {
		struct extra_tok *e = &f->extras[d->extra - 1];
		uint32_t me = d->extra;
		drop_token(f, e->h);
		d->extra = e->next;
		e->dev = FLEET_NONE;
		e->next = f->free_extra;
		f->free_extra = me;
	}
}

/* The ref of a held token h, or FLEET_NONE. */
static uint32_t token_ref(const struct fleet *f, const unsigned char h[32])
{
	bool found;
	size_t slot;

	if (f->by_tok.cap == 0)
		return FLEET_NONE;
	slot = probe(&f->by_tok, tok_hash(h), eq_tok, f, h, &found);
	return found ? (uint32_t)f->by_tok.slots[slot] - 1 : FLEET_NONE;
}

int fleet_add_token(struct fleet *f, uint32_t idx, const unsigned char h[32], int64_t expires)
{
	struct fleet_dev *d = &f->recs[idx];
	uint32_t ref = token_ref(f, h);
	size_t slot;
	bool found;

	if (ref != FLEET_NONE) {
		/* held already: by this device (nothing to do) or, never in a
		 * consistent picture, another one - which then loses it */
		uint32_t owner = ref & EXTRA_BIT ? f->extras[ref & ~EXTRA_BIT].dev : ref;
		if (owner == idx)
			return 0;
		fleet_clear_tokens(f, owner);
	}
	if (index_reserve(f, &f->by_tok) != 0)
		return RAMP_ENOMEM;
	if (!d->has_tok) {
		memcpy(d->tok, h, 32);
		d->tok_expires = expires;
		d->has_tok = 1;
		ref = idx;
	} else {
		uint32_t e;
		if (f->free_extra) {
			e = f->free_extra - 1;
			f->free_extra = f->extras[e].next;
		} else {
			if (grow((void **)&f->extras, &f->capextras, f->nextras + 1,
				 sizeof(*f->extras)) != 0)
				return RAMP_ENOMEM;
			e = (uint32_t)f->nextras++;
		}
		memcpy(f->extras[e].h, h, 32);
		f->extras[e].expires = expires;
		f->extras[e].dev = idx;
		f->extras[e].next = d->extra;
		d->extra = e + 1;
		ref = e | EXTRA_BIT;
	}
	slot = probe(&f->by_tok, tok_hash(h), eq_tok, f, h, &found);
	index_put(&f->by_tok, slot, tok_hash(h), ref);
	return 0;
}

void fleet_del(struct fleet *f, uint32_t idx)
{
	struct fleet_dev *d = &f->recs[idx];
	bool found;
	size_t slot;

	if (d->id == NULL)
		return;
	fleet_clear_tokens(f, idx);
	slot = probe(&f->by_id, id_hash(d->id), eq_id, f, d->id, &found);
	if (found)
		index_drop(&f->by_id, slot);
	/* the free list has room: it never holds more than nrecs entries */
	if (grow((void **)&f->free_recs, &f->capfree, f->nfree + 1, sizeof(*f->free_recs)) == 0)
		f->free_recs[f->nfree++] = idx;
	f->id_bytes -= strlen(d->id) + 1;
	free(d->id);
	memset(d, 0, sizeof(*d));
	f->live--;
}

void fleet_each(const struct fleet *f, void (*fn)(void *ctx, uint32_t idx,
						  const struct fleet_dev *d),
		void *ctx)
{
	for (size_t i = 0; i < f->nrecs; i++)
		if (f->recs[i].id)
			fn(ctx, (uint32_t)i, &f->recs[i]);
}

void fleet_each_token(const struct fleet *f, uint32_t idx,
		      void (*fn)(void *ctx, const unsigned char h[32], int64_t expires),
		      void *ctx)
{
	const struct fleet_dev *d = &f->recs[idx];

	if (d->has_tok)
		fn(ctx, d->tok, d->tok_expires);
	for (uint32_t e = d->extra; e; e = f->extras[e - 1].next)
		fn(ctx, f->extras[e - 1].h, f->extras[e - 1].expires);
}
