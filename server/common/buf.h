/*
 * buf.h - ramp's one growable byte buffer (curl's dynbuf is the model).
 *
 * Bounded: each buffer has a cap (buf_init(), or BUF_MAX_DEFAULT for a
 * zeroed one), and an append that would pass it or cannot allocate makes
 * the buffer "failed": the append returns -1, every later append does too,
 * and the contents stay what they were before the failing append. Callers
 * check buf_failed() (or the -1) before using the text; nothing is ever cut
 * short silently. The bytes are always NUL-terminated once anything has
 * been appended. Used from every layer, so it sits in common/.
 */
#ifndef RAMP_BUF_H
#define RAMP_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
	char *p;	/* NULL until the first append; then NUL-terminated */
	size_t len;	/* bytes held, the NUL not counted */
	size_t cap;	/* bytes allocated */
	size_t max;	/* most bytes it may hold (0: BUF_MAX_DEFAULT) */
	bool failed;	/* sticky: an append passed max or ran out of memory */
};

/* The cap of a zeroed buffer (`struct buf b = {0}`). */
#define BUF_MAX_DEFAULT ((size_t)64 << 20)

/* Makes b empty with room for at most max bytes (0: BUF_MAX_DEFAULT). */
void buf_init(struct buf *b, size_t max);
/* Appends n bytes; 0, or -1 with the buffer failed (past max, out of
 * memory, or already failed). */
int buf_append(struct buf *b, const void *data, size_t n);
/* Appends a NUL-terminated string; 0 or -1 as buf_append(). */
int buf_puts(struct buf *b, const char *s);
/* Appends printf-formatted text; 0 or -1 as buf_append(). */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Whether an append has failed since buf_init()/buf_reset(). */
bool buf_failed(const struct buf *b);
/* The text: "" while empty, NULL when the buffer has failed. */
const char *buf_str(const struct buf *b);
/* Empties b (keeps its memory and cap) and clears the failure. */
void buf_reset(struct buf *b);
/* Frees b's memory and zeroes it (keeping max); a zeroed b is a no-op. */
void buf_free(struct buf *b);

#endif
