/*
 * buf.c - growing byte buffers (buf.h).
 */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int buf_grow(struct buf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 256;
	char *p;

	if (need + 1 > BUF_CAP_DEFAULT) {
		b->bad = 1;
		return -1;
	}
	while (cap < need + 1)
		cap *= 2;
	if (cap == b->cap)
		return 0;
	if ((p = realloc(b->p, cap)) == NULL) {
		b->bad = 1;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

int buf_append(struct buf *b, const void *data, size_t n)
{
	if (buf_grow(b, b->len + n) != 0)
		return -1;
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int buf_appendf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (buf_grow(b, b->len + 128) != 0)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->bad = 1;
		return -1;
	}
	if ((size_t)n >= b->cap - b->len) {
		if (buf_grow(b, b->len + (size_t)n) != 0)
			return -1;
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
	return 0;
}

int buf_append_json_str(struct buf *b, const char *s)
{
	int rc = buf_append(b, "\"", 1);

	for (; rc == 0 && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			rc = buf_appendf(b, "\\%c", c);
		else if (c < 0x20)
			rc = buf_appendf(b, "\\u%04x", c);
		else
			rc = buf_append(b, s, 1);
	}
	return rc == 0 ? buf_append(b, "\"", 1) : rc;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	b->bad = 0;
	if (b->p)
		b->p[0] = '\0';
}

void buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->bad = 0;
}
