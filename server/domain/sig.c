/*
 * sig.c - signing keys and signature checks over exact bytes.
 *
 * Keys are parsed fresh on every call (they are small and verification is
 * rare), so nothing is cached and the module holds no state. Every OpenSSL
 * failure path clears the thread's error queue, so a rejected key or
 * signature leaves nothing behind for unrelated code to trip over.
 */
#include "domain/sig.h"

#include "common/hex.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

const char *sig_alg_name(enum sig_alg alg)
{
	switch (alg) {
	case SIG_ECDSA_P256:
		return "ecdsa-p256";
	case SIG_ED25519:
		return "ed25519";
	}
	return "unknown";
}

void sig_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(data ? data : "", len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != 32) {
		ERR_clear_error();
		out[0] = '\0';
		return;
	}
	hex_encode(out, md, 32);
}

/* Accepts ECDSA on P-256 and Ed25519; names anything else. */
static int key_classify(EVP_PKEY *pk, enum sig_alg *alg, struct ramp_err *err)
{
	char group[80] = "";
	size_t glen = 0;

	if (EVP_PKEY_is_a(pk, "ED25519")) {
		*alg = SIG_ED25519;
		return 0;
	}
	if (EVP_PKEY_is_a(pk, "EC")) {
		if (EVP_PKEY_get_group_name(pk, group, sizeof(group), &glen) == 1 &&
		    OBJ_sn2nid(group) == NID_X9_62_prime256v1) {
			*alg = SIG_ECDSA_P256;
			return 0;
		}
		ERR_clear_error();
		return ramp_err_set(err, RAMP_EINVAL, "public_key",
				    "unsupported elliptic curve \"%s\": only P-256 is accepted",
				    group[0] ? group : "explicit parameters");
	}
	return ramp_err_set(err, RAMP_EINVAL, "public_key",
			    "unsupported key type \"%s\": only ecdsa-p256 and ed25519 are accepted",
			    EVP_PKEY_get0_type_name(pk) ? EVP_PKEY_get0_type_name(pk)
							: "unknown");
}

/* *out is a new key the caller frees with EVP_PKEY_free. */
static int key_load(const char *pem, size_t len, EVP_PKEY **out,
		    enum sig_alg *alg, struct ramp_err *err)
{
	EVP_PKEY *pk = NULL;
	BIO *bio;
	int rc;

	*out = NULL;
	if (pem == NULL || len == 0)
		return ramp_err_set(err, RAMP_EINVAL, "public_key", "is empty");
	if (len > SIG_MAX_PEM)
		return ramp_err_set(err, RAMP_EINVAL, "public_key",
				    "must be at most %d bytes", SIG_MAX_PEM);
	if (memmem(pem, len, "PRIVATE KEY-----", 16) != NULL)
		return ramp_err_set(err, RAMP_EINVAL, "public_key",
				    "is a private key: send the public key (openssl pkey -pubout)");
	bio = BIO_new_mem_buf(pem, (int)len);
	if (bio != NULL)
		pk = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (pk == NULL) {
		ERR_clear_error();
		return ramp_err_set(err, RAMP_EINVAL, "public_key",
				    "is not a PEM public key (-----BEGIN PUBLIC KEY-----)");
	}
	rc = key_classify(pk, alg, err);
	if (rc) {
		EVP_PKEY_free(pk);
		return rc;
	}
	*out = pk;
	return 0;
}

int sig_key_check(const char *pem, size_t len, enum sig_alg *alg,
		  char *fingerprint, struct ramp_err *err)
{
	unsigned char *der = NULL;
	enum sig_alg a;
	EVP_PKEY *pk;
	int rc, n;

	ramp_err_clear(err);
	rc = key_load(pem, len, &pk, &a, err);
	if (rc)
		return rc;
	if (fingerprint != NULL) {
		n = i2d_PUBKEY(pk, &der);
		if (n <= 0) {
			ERR_clear_error();
			EVP_PKEY_free(pk);
			return ramp_err_set(err, RAMP_EINTERNAL, "public_key",
					    "could not encode the public key");
		}
		sig_sha256_hex(der, (size_t)n, fingerprint);
		OPENSSL_free(der);
	}
	EVP_PKEY_free(pk);
	if (alg != NULL)
		*alg = a;
	return 0;
}

static bool verify_raw(EVP_PKEY *pk, enum sig_alg alg, const unsigned char *sig,
		       size_t siglen, const void *data, size_t len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	const EVP_MD *md = alg == SIG_ECDSA_P256 ? EVP_sha256() : NULL;
	bool ok;

	ok = ctx != NULL &&
	     EVP_DigestVerifyInit(ctx, NULL, md, NULL, pk) == 1 &&
	     EVP_DigestVerify(ctx, sig, siglen, data ? data : "", len) == 1;
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return ok;
}

int sig_verify(const char *pem, size_t pemlen, const void *data, size_t len,
	       const char *sig_b64, struct ramp_err *err)
{
	unsigned char *sig = NULL;
	size_t siglen = 0;
	enum sig_alg alg;
	EVP_PKEY *pk;
	int rc;

	ramp_err_clear(err);
	rc = key_load(pem, pemlen, &pk, &alg, err);
	if (rc)
		return rc;
	rc = sig_base64_decode(sig_b64, &sig, &siglen);
	if (rc == RAMP_EINVAL)
		rc = ramp_err_set(err, rc, "signature", "signature is not base64");
	else if (rc == 0 && siglen == 0)
		rc = ramp_err_set(err, RAMP_EINVAL, "signature",
				  "signature is empty");
	else if (rc == 0 && !verify_raw(pk, alg, sig, siglen, data, len))
		rc = ramp_err_set(err, RAMP_EINVAL, "signature",
				  "signature does not verify");
	else if (rc)
		rc = ramp_err_set(err, rc, "signature", "out of memory");
	free(sig);
	EVP_PKEY_free(pk);
	return rc;
}

char *sig_base64_encode(const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i, o = 0;
	char *out;

	if (len > (SIZE_MAX / 4 - 1) * 3)
		return NULL;
	out = malloc((len + 2) / 3 * 4 + 1);
	if (out == NULL)
		return NULL;
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		out[o++] = b64_alphabet[v >> 18];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = b64_alphabet[(v >> 6) & 63];
		out[o++] = b64_alphabet[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)p[i] << 16 |
			     (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);

		out[o++] = b64_alphabet[v >> 18];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return out;
}

static bool b64_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
	       c == '\f';
}

/* Counts symbols and padding; false unless the layout is valid padded base64. */
static bool b64_scan(const char *s, size_t *nsym, size_t *npad)
{
	*nsym = *npad = 0;
	for (; *s; s++) {
		if (b64_space(*s))
			continue;
		if (*s == '=')
			(*npad)++;
		else if (*npad > 0 || strchr(b64_alphabet, *s) == NULL)
			return false;
		(*nsym)++;
	}
	return *npad <= 2 && *nsym % 4 == 0 && !(*npad > 0 && *nsym == 0);
}

int sig_base64_decode(const char *b64, unsigned char **out, size_t *outlen)
{
	size_t nsym, npad, o = 0, k = 0;
	unsigned char *buf;
	uint32_t acc = 0;

	*out = NULL;
	*outlen = 0;
	if (b64 == NULL || !b64_scan(b64, &nsym, &npad))
		return RAMP_EINVAL;
	buf = malloc(nsym / 4 * 3 + 1);
	if (buf == NULL)
		return RAMP_ENOMEM;
	for (const char *s = b64; *s; s++) {
		if (b64_space(*s))
			continue;
		acc = acc << 6 |
		      (*s == '=' ? 0 : (uint32_t)(strchr(b64_alphabet, *s) - b64_alphabet));
		if (++k % 4 == 0) {
			buf[o++] = (unsigned char)(acc >> 16);
			buf[o++] = (unsigned char)(acc >> 8);
			buf[o++] = (unsigned char)acc;
			acc = 0;
		}
	}
	*out = buf;
	*outlen = o - npad;
	return 0;
}
