/*
 * verify.h - what an agent checks before it runs a model: the manifest's
 * signature against the key it was configured with (not whatever key the
 * controller names), that the signed manifest says what the desired answer
 * says, and that the downloaded file has the signed digest and size.
 *
 * The controller is not trusted: a compromised or confused controller can
 * make the agent download something, never run it.
 */
#ifndef RAMP_AGENT_VERIFY_H
#define RAMP_AGENT_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "desired.h"

/* What the signed manifest says about the entry's variant. */
struct verify_signed {
	char digest[72];
	int64_t size;	/* -1 when the manifest gives none */
};

/*
 * Checks e's manifest: the signature (by the PEM public key pem) over the
 * exact decoded manifest bytes, then that the manifest names e's model and
 * version, has a variant for e's platform whose digest is e's digest, and has
 * not expired at now (unix seconds).  0 with *out filled, or RAMP_EINVAL with
 * err->msg saying which check failed ("manifest signature does not verify").
 */
int verify_manifest(const struct desired_model *e, const char *pem, size_t pemlen, double now,
		    struct verify_signed *out, struct ramp_err *err);

/*
 * Hashes the file at path: 0 with hex (65 bytes) and *bytes, or RAMP_EIO.
 */
int verify_file_sha256(const char *path, char hex[65], int64_t *bytes);

/*
 * 0 when the file at path has exactly size bytes (when size >= 0) and the
 * SHA-256 digest ("sha256:<hex>"); RAMP_EINVAL with the reason ("file is
 * truncated: 10 of 20 bytes", "digest mismatch: ...") or RAMP_EIO.
 */
int verify_file(const char *path, const char *digest, int64_t size, struct ramp_err *err);

/*
 * The checks of verify_file on a digest already computed: hex (64 hex
 * digits) and bytes of a file against the signed digest and size.
 */
int verify_digest(const char *hex, int64_t bytes, const char *digest, int64_t size,
		  struct ramp_err *err);

#endif
