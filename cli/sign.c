/*
 * sign.c - signs a manifest locally for `rampctl manifest post --key`, in
 * the exact forms rampd verifies (API.md): Ed25519 gives the raw 64 bytes,
 * ECDSA P-256 the DER signature over SHA-256, both base64-encoded, the same
 * as `openssl pkeyutl -sign -rawin` and `openssl dgst -sha256 -sign` write.
 */
#include "sign.h"

#include "domain/sig.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>

char *sign_base64(const char *key_path, const void *data, size_t len, char *why, size_t whylen)
{
	FILE *f = fopen(key_path, "r");
	EVP_PKEY *pk = NULL;
	EVP_MD_CTX *md = NULL;
	unsigned char *sig = NULL;
	size_t siglen = 0;
	char *out = NULL;
	int ed;

	if (f == NULL) {
		snprintf(why, whylen, "cannot read key %s", key_path);
		return NULL;
	}
	pk = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (pk == NULL) {
		snprintf(why, whylen, "%s is not a PEM private key", key_path);
		goto out;
	}
	ed = EVP_PKEY_id(pk) == EVP_PKEY_ED25519;
	if (!ed && EVP_PKEY_id(pk) != EVP_PKEY_EC) {
		snprintf(why, whylen, "%s: only Ed25519 and ECDSA P-256 keys sign manifests", key_path);
		goto out;
	}
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(md, NULL, ed ? NULL : EVP_sha256(), NULL, pk) != 1 ||
	    EVP_DigestSign(md, NULL, &siglen, data, len) != 1 || (sig = malloc(siglen)) == NULL ||
	    EVP_DigestSign(md, sig, &siglen, data, len) != 1) {
		snprintf(why, whylen, "signing with %s failed", key_path);
		goto out;
	}
	out = sig_base64_encode(sig, siglen);
	if (out == NULL)
		snprintf(why, whylen, "out of memory");
out:
	ERR_clear_error();
	free(sig);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pk);
	return out;
}
