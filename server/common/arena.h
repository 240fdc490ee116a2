/*
 * arena.h - a per-request memory pool (h2o's idea): handlers and parsers
 * allocate from it and never free individually; the whole arena goes when the
 * response has been queued. Allocation failure returns NULL, never aborts.
 */
#ifndef RAMP_ARENA_H
#define RAMP_ARENA_H

#include <stddef.h>

struct arena;

/* Returns a new empty arena, or NULL when out of memory. */
struct arena *arena_new(void);
/* Frees the arena and everything allocated from it; NULL is a no-op. */
void arena_free(struct arena *a);
/* Returns n bytes aligned for any type, or NULL. */
void *arena_alloc(struct arena *a, size_t n);
/* Returns zeroed memory for n elements of size sz, or NULL (overflow-checked). */
void *arena_calloc(struct arena *a, size_t n, size_t sz);
/* Copies s (len bytes) into the arena and NUL-terminates it; NULL on failure. */
char *arena_strndup(struct arena *a, const char *s, size_t len);
/* Copies NUL-terminated s; NULL when s is NULL or on failure. */
char *arena_strdup(struct arena *a, const char *s);
/* printf into the arena; NULL on failure. */
char *arena_printf(struct arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
