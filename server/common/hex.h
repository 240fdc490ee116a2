/*
 * hex.h - ramp's one hex encoder: bytes to lower-case hex (digests in
 * ETags, token hashes, signatures, HMACs) and back.
 */
#ifndef RAMP_HEX_H
#define RAMP_HEX_H

#include <stddef.h>

/* Writes the 2n lower-case hex digits of p's n bytes and a NUL into out,
 * which must hold 2n + 1 bytes; returns out. */
char *hex_encode(char *out, const void *p, size_t n);
/* Reads exactly 2n hex digits (either case) of s into out's n bytes.
 * 0, or RAMP_EINVAL when s is shorter or holds anything else. */
int hex_decode(void *out, const char *s, size_t n);

#endif
