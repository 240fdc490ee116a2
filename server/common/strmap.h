/*
 * strmap.h - an open-addressing hash map from NUL-terminated strings to
 * pointers. Keys are copied into the map; values are the caller's. Not
 * thread-safe: snapshots build one, then only read it.
 */
#ifndef RAMP_STRMAP_H
#define RAMP_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

struct strmap;

/* A new empty map, or NULL. */
struct strmap *strmap_new(void);
/* A map that keeps the caller's key pointers instead of copies: each key must
 * outlive the map (e.g. live in the same arena). Saves a malloc per entry. */
struct strmap *strmap_new_borrowed(void);
/* Frees the map and its key copies (not the values); NULL is a no-op. */
void strmap_free(struct strmap *m);
/* Sets key to val (replacing). 0 or RAMP_ENOMEM. */
int strmap_set(struct strmap *m, const char *key, void *val);
/* Removes key (freeing its copy); false when it was not there. */
bool strmap_del(struct strmap *m, const char *key);
/* The value for key, or NULL. */
void *strmap_get(const struct strmap *m, const char *key);
size_t strmap_size(const struct strmap *m);
/* Calls fn for each entry, in no particular order. */
void strmap_each(const struct strmap *m, void (*fn)(void *ctx, const char *key, void *val),
		 void *ctx);

#endif
