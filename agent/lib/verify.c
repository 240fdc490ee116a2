/*
 * verify.c - signature, manifest and digest checks for the agent (verify.h).
 *
 * The signature is checked over the exact bytes the controller relays, with
 * domain/sig.h; the manifest is parsed with domain/manifest.h, the same code
 * rampd accepted it with.  Files are hashed streaming, so model size does not
 * matter.
 */
#include "verify.h"

#include "common/fdio.h"
#include "common/hex.h"
#include "domain/manifest.h"
#include "domain/sig.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The signed manifest's variant for e, checked against e; 0 or RAMP_EINVAL. */
static int check_variant(const struct desired_model *e, const struct manifest *m, double now,
			 struct verify_signed *out, struct ramp_err *err)
{
	const struct manifest_variant *v;

	if (strcmp(m->name, e->model) != 0)
		return ramp_err_set(err, RAMP_EINVAL, "manifest",
				    "signed manifest is for model %s, not %s", m->name, e->model);
	if (strcmp(m->version, e->version) != 0)
		return ramp_err_set(err, RAMP_EINVAL, "manifest",
				    "signed manifest is for version %s, not %s", m->version,
				    e->version);
	if (m->expires && now > (double)m->expires)
		return ramp_err_set(err, RAMP_EINVAL, "manifest", "signed manifest has expired");
	if ((v = manifest_variant_for(m, e->platform)) == NULL)
		return ramp_err_set(err, RAMP_EINVAL, "manifest",
				    "signed manifest has no variant for platform %s", e->platform);
	if (strcmp(v->digest, e->digest) != 0)
		return ramp_err_set(err, RAMP_EINVAL, "digest",
				    "digest %s is not the signed manifest's %s", e->digest,
				    v->digest);
	snprintf(out->digest, sizeof(out->digest), "%s", v->digest);
	out->size = v->size;
	return 0;
}

int verify_manifest(const struct desired_model *e, const char *pem, size_t pemlen, double now,
		    struct verify_signed *out, struct ramp_err *err)
{
	unsigned char *text = NULL;
	size_t len = 0;
	struct manifest m = {0};
	struct ramp_err perr = {0};
	int rc;

	if (sig_base64_decode(e->manifest_b64, &text, &len) != 0)
		return ramp_err_set(err, RAMP_EINVAL, "manifest", "manifest is not base64");
	if (sig_verify(pem, pemlen, text, len, e->signature, &perr) != 0) {
		rc = ramp_err_set(err, RAMP_EINVAL, "signature",
				  "manifest signature does not verify with the configured key "
				  "(key_id %s): %s", e->key_id[0] ? e->key_id : "none", perr.msg);
		goto out;
	}
	if (manifest_parse((const char *)text, len, &m, &perr) != 0) {
		rc = ramp_err_set(err, RAMP_EINVAL, "manifest", "signed manifest does not parse: %s%s%s",
				  perr.field, perr.field[0] ? ": " : "", perr.msg);
		goto out;
	}
	rc = check_variant(e, &m, now, out, err);
out:
	manifest_free(&m);
	free(text);
	return rc;
}

int verify_file_sha256(const char *path, char hex[65], int64_t *bytes)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	*bytes = 0;
	if (fd < 0)
		return RAMP_EIO;
	rc = fd_sha256(fd, hex, bytes) == 0 ? 0 : RAMP_EIO;
	close(fd);
	return rc;
}

int verify_digest(const char *hex, int64_t bytes, const char *digest, int64_t size,
		  struct ramp_err *err)
{
	if (size >= 0 && bytes < size)
		return ramp_err_set(err, RAMP_EINVAL, "file", "file is truncated: %lld of %lld bytes",
				    (long long)bytes, (long long)size);
	if (size >= 0 && bytes > size)
		return ramp_err_set(err, RAMP_EINVAL, "file",
				    "file is larger than signed: %lld of %lld bytes", (long long)bytes,
				    (long long)size);
	if (strncmp(digest, "sha256:", 7) != 0 || strcmp(digest + 7, hex) != 0)
		return ramp_err_set(err, RAMP_EINVAL, "file",
				    "digest mismatch: file is sha256:%s, signed manifest says %s", hex,
				    digest);
	return 0;
}

int verify_file(const char *path, const char *digest, int64_t size, struct ramp_err *err)
{
	char hex[65];
	int64_t bytes;

	if (verify_file_sha256(path, hex, &bytes) != 0)
		return ramp_err_set(err, RAMP_EIO, "file", "cannot read %s", path);
	return verify_digest(hex, bytes, digest, size, err);
}
