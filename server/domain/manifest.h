/*
 * manifest.h - the signed model manifest (API.md "Signing keys, manifests,
 * artifacts"): parse YAML or JSON text into a validated struct manifest.
 *
 * Pure: bytes in, struct out. The signature over those bytes is checked
 * separately (domain/sig.h); this module only reads what they say. Every
 * error names the field path ("model.variants[1].digest") so the API can
 * answer 422 (RAMP_EINVAL) or 400 (RAMP_EMALFORMED) precisely.
 */
#ifndef RAMP_MANIFEST_H
#define RAMP_MANIFEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define MANIFEST_MAX_BYTES (1024 * 1024)
#define MANIFEST_MAX_VARIANTS 64
#define MANIFEST_MAX_URL 2048

struct manifest_variant {
	char platform[64];
	char file[256];
	char digest[72];	/* "sha256:<64 lowercase hex>" */
	char *url;		/* NULL if absent */
	int64_t size;		/* -1 if absent */
	json_t *capabilities;	/* object of scalars; NULL if absent */
};

struct manifest {
	char name[64];
	char version[129];
	int64_t expires;	/* unix seconds; 0 if absent */
	size_t nvariants;
	struct manifest_variant *variants;
	json_t *signatures;	/* informational object; NULL if absent */
};

/*
 * Parses data (YAML, or JSON when the first non-blank byte is '{') into *out.
 * Returns 0 and the caller owns *out (free with manifest_free), or a negative
 * RAMP_E* code with *err filled and *out left empty: RAMP_ETOOBIG over
 * MANIFEST_MAX_BYTES, RAMP_EMALFORMED for unparseable text (or YAML with
 * anchors, aliases, tags or several documents), RAMP_EINVAL for bad fields.
 */
int manifest_parse(const char *data, size_t len, struct manifest *out,
		   struct ramp_err *err);

/* Frees the members of *m (not m itself) and empties it; NULL is a no-op. */
void manifest_free(struct manifest *m);

/* The variant for platform, pointing into m; NULL when there is none. */
const struct manifest_variant *manifest_variant_for(const struct manifest *m,
						    const char *platform);

/* {"variants": [...], "expires"} as stored beside the manifest's text (the
 * store's manifests.doc); the caller json_decref()s; NULL when out of memory. */
json_t *manifest_doc_json(const struct manifest *m);

/* t (unix seconds) as RFC 3339 UTC, "2027-01-10T00:00:00Z". */
void manifest_iso8601(int64_t t, char out[32]);

/* True when name matches [a-z0-9][a-z0-9._-]{0,62}; NULL is invalid. */
bool manifest_name_valid(const char *name);

#endif
