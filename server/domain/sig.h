/*
 * sig.h - signing keys and signatures over exact bytes (API.md "Signing
 * keys, manifests, artifacts"), with OpenSSL 3 EVP.
 *
 * Keys are PEM SubjectPublicKeyInfo ("-----BEGIN PUBLIC KEY-----") of type
 * ECDSA P-256 or Ed25519, nothing else. Signatures are base64: for ECDSA the
 * DER signature over SHA-256 of the data (openssl dgst -sha256 -sign, cosign
 * sign-blob --key); for Ed25519 the raw 64 bytes (openssl pkeyutl -rawin).
 * Pure: no I/O, no globals; OpenSSL's error queue is left empty.
 */
#ifndef RAMP_SIG_H
#define RAMP_SIG_H

#include <stddef.h>

#include "common/err.h"

#define SIG_MAX_PEM (64 * 1024)

enum sig_alg { SIG_ECDSA_P256, SIG_ED25519 };

/*
 * Checks a PEM public key; 0 with *alg set (when alg is not NULL) and the hex
 * SHA-256 of its DER SubjectPublicKeyInfo in fingerprint (when not NULL, 65
 * bytes), or RAMP_EINVAL naming what is wrong (RSA, other curves, a private
 * key, not PEM).
 */
int sig_key_check(const char *pem, size_t len, enum sig_alg *alg,
		  char *fingerprint, struct ramp_err *err);

/*
 * 0 when sig_b64 (base64, surrounding whitespace allowed) is a valid signature
 * by the key pem over data[0..len); otherwise RAMP_EINVAL with msg "signature
 * does not verify", "signature is not base64" or the key's problem.
 */
int sig_verify(const char *pem, size_t pemlen, const void *data, size_t len,
	       const char *sig_b64, struct ramp_err *err);

/* "ecdsa-p256" or "ed25519"; never NULL. */
const char *sig_alg_name(enum sig_alg alg);

/* Standard padded base64 of data, NUL-terminated; caller frees; NULL on OOM. */
char *sig_base64_encode(const void *data, size_t len);

/*
 * Decodes standard padded base64, ignoring ASCII whitespace anywhere (so
 * wrapped lines and a trailing newline pass). 0 with *out (caller frees,
 * never NULL on success) and *outlen, or RAMP_EINVAL / RAMP_ENOMEM with
 * *out NULL.
 */
int sig_base64_decode(const char *b64, unsigned char **out, size_t *outlen);

/* Lowercase hex SHA-256 of data[0..len) into out (65 bytes, NUL-terminated). */
void sig_sha256_hex(const void *data, size_t len, char out[65]);

#endif
