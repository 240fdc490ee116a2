/*
 * buf.h - a growing byte buffer for the simulator's request and response
 * bodies. Bounded by a cap given at append time so a runaway answer cannot
 * eat the machine; an append that would pass the cap (or fails to allocate)
 * sets the sticky `bad` flag and leaves the contents as they were.
 */
#ifndef RAMP_SIM_BUF_H
#define RAMP_SIM_BUF_H

#include <stddef.h>

struct buf {
	char *p; /* always NUL-terminated when len > 0 or after buf_reset() */
	size_t len, cap;
	int bad;
};

#define BUF_CAP_DEFAULT ((size_t)64 << 20)

/* Appends n bytes; 0, or -1 (and b->bad set) past BUF_CAP_DEFAULT or on OOM. */
int buf_append(struct buf *b, const void *data, size_t n);
/* Appends printf-formatted text; 0 or -1 as buf_append(). */
int buf_appendf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal, quotes included. */
int buf_append_json_str(struct buf *b, const char *s);
/* Empties b (keeps its memory) and clears bad. */
void buf_reset(struct buf *b);
/* Frees b's memory; b may be reused after. */
void buf_free(struct buf *b);

#endif
