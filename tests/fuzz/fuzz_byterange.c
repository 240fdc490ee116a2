/*
 * fuzz_byterange.c - libFuzzer target for the Range header parser: for any
 * header and size, a 206 range lies inside the file and is not empty.
 */
#include "domain/byterange.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t fsize = 0, off = 0, len = 0;
	char *h;

	if (size < 8)
		return 0;
	memcpy(&fsize, data, 8);
	fsize >>= (data[0] & 63); /* small sizes too */
	h = malloc(size - 8 + 1);
	if (h == NULL)
		return 0;
	memcpy(h, data + 8, size - 8);
	h[size - 8] = '\0';
	if (byterange_parse(h, fsize, &off, &len) == BYTERANGE_ONE &&
	    (len == 0 || off >= fsize || len > fsize - off))
		abort();
	free(h);
	return 0;
}
