/*
 * hash.h - ramp's one string hash: FNV-1a, 64 bits. For hash tables and
 * cheap fingerprints (ETags), never for anything an attacker may steer
 * into collisions that matter (stage membership is SHA-256, bucket.c).
 */
#ifndef RAMP_HASH_H
#define RAMP_HASH_H

#include <stddef.h>
#include <stdint.h>

/* The standard FNV-1a 64 offset basis: start here. */
#define HASH_FNV1A_BASIS 0xcbf29ce484222325ULL
/* A truncated basis (one digit short of the standard's decimal) that the
 * ETags of /desired and the hawkBit base resource, and the DDI action
 * hash, were first computed with. Those values are on the wire and held by
 * devices across restarts, so they keep it; nothing new should use it. */
#define HASH_FNV1A_BASIS_V0 1469598103934665603ULL

/* Folds n bytes of p into h (start with HASH_FNV1A_BASIS); returns the new h. */
uint64_t hash_fnv1a(uint64_t h, const void *p, size_t n);
/* Folds the NUL-terminated s into h, as hash_fnv1a(h, s, strlen(s)). */
uint64_t hash_fnv1a_str(uint64_t h, const char *s);

#endif
