/*
 * buf.c - the capped growable buffer (buf.h). The one place a byte buffer
 * grows by realloc: it doubles up to the cap and fails loudly past it.
 */
#include "common/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_MIN_ALLOC 256

static size_t buf_max(const struct buf *b)
{
	return b->max ? b->max : BUF_MAX_DEFAULT;
}

/* Makes room for need bytes plus the NUL; 0, or -1 with b failed. */
static int buf_grow(struct buf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : BUF_MIN_ALLOC;
	char *p;

	if (b->failed)
		return -1;
	if (need > buf_max(b))
		goto fail;
	if (need + 1 <= b->cap)
		return 0;
	while (cap < need + 1)
		cap = cap > ((size_t)-1) / 2 ? need + 1 : cap * 2;
	if (cap > buf_max(b) + 1)
		cap = buf_max(b) + 1;
	if ((p = realloc(b->p, cap)) == NULL)
		goto fail;
	b->p = p;
	b->cap = cap;
	return 0;
fail:
	b->failed = true;
	return -1;
}

void buf_init(struct buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

int buf_append(struct buf *b, const void *data, size_t n)
{
	if (n > ((size_t)-1) - b->len - 1 || buf_grow(b, b->len + n) != 0) {
		b->failed = true;
		return -1;
	}
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return -1;
	/* room for a short line first, so most calls format once */
	if (buf_grow(b, b->len + 64 <= buf_max(b) ? b->len + 64 : b->len) != 0)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		goto fail;
	if ((size_t)n >= b->cap - b->len) {
		if (buf_grow(b, b->len + (size_t)n) != 0)
			goto fail;
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
	return 0;
fail:
	if (b->p)
		b->p[b->len] = '\0'; /* drop what a partial vsnprintf wrote */
	b->failed = true;
	return -1;
}

bool buf_failed(const struct buf *b)
{
	return b->failed;
}

const char *buf_str(const struct buf *b)
{
	if (b->failed)
		return NULL;
	return b->p ? b->p : "";
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	b->failed = false;
	if (b->p)
		b->p[0] = '\0';
}

void buf_free(struct buf *b)
{
	size_t max = b->max;

	free(b->p);
	buf_init(b, max);
}
