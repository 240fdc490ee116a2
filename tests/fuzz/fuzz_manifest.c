/*
 * fuzz_manifest.c - libFuzzer target: manifest_parse on arbitrary bytes must
 * not crash or leak, and a parsed manifest must satisfy its own contract
 * (names valid, variants findable by platform, digests canonical).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "domain/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct manifest m;
	struct ramp_err err;

	if (manifest_parse((const char *)data, size, &m, &err) != 0) {
		if (err.code == 0 || err.msg[0] == '\0')
			abort();
		return 0;
	}
	if (!manifest_name_valid(m.name) || m.nvariants == 0 ||
	    m.nvariants > MANIFEST_MAX_VARIANTS)
		abort();
	for (size_t i = 0; i < m.nvariants; i++) {
		const struct manifest_variant *v = &m.variants[i];

		if (manifest_variant_for(&m, v->platform) != v ||
		    strlen(v->digest) != 71 || v->file[0] == '\0')
			abort();
	}
	manifest_free(&m);
	return 0;
}
