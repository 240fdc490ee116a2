/*
 * byterange.c - one "bytes=" range against a file size (RFC 9110 14.1.2).
 */
#include "domain/byterange.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

static bool parse_u64(const char *s, const char *end, uint64_t *out)
{
	uint64_t v = 0;

	if (s == end)
		return false;
	for (; s < end; s++) {
		uint64_t d = (uint64_t)(*s - '0');
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* The last n bytes. */
static enum byterange_kind suffix(uint64_t n, uint64_t size, uint64_t *off, uint64_t *len)
{
	if (n == 0 || size == 0)
		return BYTERANGE_UNSATISFIABLE;
	*len = n < size ? n : size;
	*off = size - *len;
	return BYTERANGE_ONE;
}

enum byterange_kind byterange_parse(const char *header, uint64_t size, uint64_t *off,
				    uint64_t *len)
{
	const char *spec, *dash, *end;
	uint64_t a, b = UINT64_MAX;

	if (header == NULL || strncasecmp(header, "bytes=", 6) != 0 || strchr(header, ','))
		return BYTERANGE_NONE;
	spec = header + 6 + strspn(header + 6, " \t");
	end = spec + strcspn(spec, " \t");
	if (end[strspn(end, " \t")] != '\0' ||
	    (dash = memchr(spec, '-', (size_t)(end - spec))) == NULL)
		return BYTERANGE_NONE;
	if (dash == spec)
		return parse_u64(dash + 1, end, &b) ? suffix(b, size, off, len) : BYTERANGE_NONE;
	if (!parse_u64(spec, dash, &a))
		return BYTERANGE_NONE;
	if (dash + 1 != end && (!parse_u64(dash + 1, end, &b) || b < a))
		return BYTERANGE_NONE;
	if (a >= size)
		return BYTERANGE_UNSATISFIABLE;
	*off = a;
	*len = (b >= size ? size - 1 : b) - a + 1;
	return BYTERANGE_ONE;
}
