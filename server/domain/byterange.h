/*
 * byterange.h - the HTTP Range header for artifact downloads (agents resume
 * with it). Pure: a header value and a file size in, one byte range out.
 *
 * Only a single "bytes=" range is served as 206; several ranges, other units
 * and malformed values are answered with the whole file, which RFC 9110
 * allows (a server may ignore Range), so they are BYTERANGE_NONE here.
 */
#ifndef RAMP_BYTERANGE_H
#define RAMP_BYTERANGE_H

#include <stdint.h>

enum byterange_kind {
	BYTERANGE_NONE,		 /* serve the whole file (200) */
	BYTERANGE_ONE,		 /* serve [*off, *off + *len) (206) */
	BYTERANGE_UNSATISFIABLE, /* 416 with "Content-Range: bytes * / size" */
};

/*
 * Reads header (NULL when absent): "bytes=a-b", "bytes=a-" or "bytes=-n",
 * blanks around the range allowed. For BYTERANGE_ONE, *off and *len (>= 1)
 * lie inside size, an end past the file being clamped to it; *off and *len
 * are untouched otherwise.
 */
enum byterange_kind byterange_parse(const char *header, uint64_t size, uint64_t *off,
				    uint64_t *len);

#endif
