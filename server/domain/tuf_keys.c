/*
 * tuf_keys.c - TUF keys and signatures: key ids, ed25519 over the
 * canonical bytes of "signed" (OpenSSL EVP, raw public keys in hex as the
 * spec's ed25519 key format has them), threshold counting, and signing
 * with a PKCS#8 private key for rampctl and rampd's online roles.
 */
#include "domain/tuf.h"

#include "common/hex.h"
#include "domain/sig.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

int tuf_keyid(const json_t *key, char out[65])
{
	struct buf b;
	int rc;

	buf_init(&b, TUF_MAX_ROOT);
	rc = tuf_cjson(key, &b);
	if (rc == 0)
		sig_sha256_hex(b.p, b.len, out);
	buf_free(&b);
	return rc;
}

/* The 32 raw bytes of an ed25519 key object, or -1 for anything else. */
static int key_raw(const json_t *key, unsigned char raw[32])
{
	const char *pub = json_string_value(json_object_get(json_object_get(key, "keyval"),
							    "public"));

	if (!json_is_object(key) ||
	    !json_is_string(json_object_get(key, "keytype")) ||
	    strcmp(json_string_value(json_object_get(key, "keytype")), "ed25519") != 0 ||
	    !json_is_string(json_object_get(key, "scheme")) ||
	    strcmp(json_string_value(json_object_get(key, "scheme")), "ed25519") != 0 ||
	    pub == NULL || strlen(pub) != 64 || hex_decode(raw, pub, 32) != 0)
		return -1;
	return 0;
}

static bool sig_ok(const json_t *key, const char *sighex, const struct buf *msg)
{
	unsigned char raw[32], sig[64];
	EVP_PKEY *pk;
	EVP_MD_CTX *ctx;
	bool ok = false;

	if (key_raw(key, raw) != 0 || sighex == NULL || strlen(sighex) != 128 ||
	    hex_decode(sig, sighex, 64) != 0)
		return false;
	pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, 32);
	ctx = EVP_MD_CTX_new();
	ok = pk != NULL && ctx != NULL &&
	     EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) == 1 &&
	     EVP_DigestVerify(ctx, sig, 64, (const unsigned char *)msg->p, msg->len) == 1;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pk);
	ERR_clear_error();
	return ok;
}

/* Whether keyid is among role's keyids and not yet counted. */
static bool listed_once(const json_t *role, const char *keyid, json_t *seen)
{
	const json_t *ids = json_object_get(role, "keyids");
	size_t i;

	if (json_object_get(seen, keyid) != NULL)
		return false;
	for (i = 0; i < json_array_size(ids); i++)
		if (json_is_string(json_array_get(ids, i)) &&
		    strcmp(json_string_value(json_array_get(ids, i)), keyid) == 0)
			return true;
	return false;
}

int tuf_verify_role(const json_t *doc, const json_t *keys, const json_t *role,
		    const char *rolename, struct ramp_err *err)
{
	const json_t *sigs = json_object_get(doc, "signatures"), *s;
	json_int_t threshold = json_integer_value(json_object_get(role, "threshold"));
	json_t *seen = json_object();
	json_int_t good = 0;
	struct buf msg;
	size_t i;
	int rc;

	buf_init(&msg, TUF_MAX_META);
	rc = seen == NULL ? RAMP_ENOMEM : tuf_cjson(tuf_signed(doc), &msg);
	json_array_foreach(sigs, i, s) {
		const char *id = json_string_value(json_object_get(s, "keyid"));
		const json_t *key = id ? json_object_get(keys, id) : NULL;

		if (rc || key == NULL || !listed_once(role, id, seen))
			continue;
		if (sig_ok(key, json_string_value(json_object_get(s, "sig")), &msg)) {
			if (json_object_set_new(seen, id, json_true()) != 0)
				rc = RAMP_ENOMEM;
			good++;
		}
	}
	json_decref(seen);
	buf_free(&msg);
	if (rc == RAMP_ENOMEM)
		return ramp_err_set(err, rc, "", "out of memory");
	if (rc)
		return ramp_err_set(err, RAMP_EINVAL, "malformed",
				    "%s: cannot form the signed bytes", rolename);
	if (threshold >= 1 && good >= threshold)
		return 0;
	rc = ramp_err_set(err, RAMP_EINVAL, "threshold",
			  "%s: %lld valid signature(s), %lld required", rolename,
			  (long long)good, (long long)threshold);
	return rc;
}

static json_t *key_object(const unsigned char raw[32])
{
	char hex[65];

	hex_encode(hex, raw, 32);
	return json_pack("{s:s, s:s, s:{s:s}}", "keytype", "ed25519", "scheme", "ed25519",
			 "keyval", "public", hex);
}

static EVP_PKEY *load_private(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *pk = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;

	BIO_free(bio);
	if (pk != NULL && !EVP_PKEY_is_a(pk, "ED25519")) {
		EVP_PKEY_free(pk);
		pk = NULL;
	}
	ERR_clear_error();
	return pk;
}

static json_t *public_of(EVP_PKEY *pk)
{
	unsigned char raw[32];
	size_t n = sizeof(raw);

	if (EVP_PKEY_get_raw_public_key(pk, raw, &n) != 1 || n != 32) {
		ERR_clear_error();
		return NULL;
	}
	return key_object(raw);
}

json_t *tuf_key_public(const char *priv_pem)
{
	EVP_PKEY *pk = priv_pem ? load_private(priv_pem) : NULL;
	json_t *pub = pk ? public_of(pk) : NULL;

	EVP_PKEY_free(pk);
	return pub;
}

int tuf_key_generate(char **priv_pem, json_t **pub)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	EVP_PKEY *pk = NULL;
	BIO *bio = NULL;
	char *mem;
	long n;
	int rc = RAMP_EINTERNAL;

	*priv_pem = NULL;
	*pub = NULL;
	if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_keygen(ctx, &pk) != 1)
		goto out;
	bio = BIO_new(BIO_s_mem());
	if (bio == NULL || PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL) != 1)
		goto out;
	n = BIO_get_mem_data(bio, &mem);
	*priv_pem = strndup(mem, (size_t)n);
	*pub = public_of(pk);
	if (*priv_pem == NULL || *pub == NULL) {
		free(*priv_pem);
		json_decref(*pub);
		*priv_pem = NULL;
		*pub = NULL;
		rc = RAMP_ENOMEM;
		goto out;
	}
	rc = 0;
out:
	BIO_free(bio);
	EVP_PKEY_free(pk);
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return rc;
}

/* Drops doc's signatures by keyid, then appends {keyid, sig}. */
static int put_signature(json_t *doc, const char *keyid, const char *sighex)
{
	json_t *sigs = json_object_get(doc, "signatures"), *kept = json_array(), *s;
	size_t i;

	if (kept == NULL)
		return RAMP_ENOMEM;
	json_array_foreach(sigs, i, s) {
		const char *id = json_string_value(json_object_get(s, "keyid"));

		if (id == NULL || strcmp(id, keyid) != 0)
			json_array_append(kept, s);
	}
	if (json_array_append_new(kept, json_pack("{s:s, s:s}", "keyid", keyid, "sig",
						  sighex)) != 0 ||
	    json_object_set_new(doc, "signatures", kept) != 0)
		return RAMP_ENOMEM;
	return 0;
}

int tuf_sign(json_t *doc, const char *priv_pem, struct ramp_err *err)
{
	EVP_PKEY *pk = load_private(priv_pem);
	EVP_MD_CTX *ctx = NULL;
	unsigned char sig[64];
	size_t siglen = sizeof(sig);
	char keyid[65], hex[129];
	json_t *pub = NULL;
	struct buf msg;
	int rc = RAMP_EINVAL;

	buf_init(&msg, TUF_MAX_META);
	if (pk == NULL) {
		ramp_err_set(err, rc, "key", "is not an ed25519 private key (PEM)");
		goto out;
	}
	pub = public_of(pk);
	ctx = EVP_MD_CTX_new();
	if (pub == NULL || tuf_keyid(pub, keyid) != 0 ||
	    tuf_cjson(tuf_signed(doc), &msg) != 0 || ctx == NULL ||
	    EVP_DigestSignInit(ctx, NULL, NULL, NULL, pk) != 1 ||
	    EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)msg.p, msg.len) != 1 ||
	    siglen != 64) {
		ramp_err_set(err, rc, "signed", "cannot sign the document");
		goto out;
	}
	hex_encode(hex, sig, 64);
	rc = put_signature(doc, keyid, hex);
	if (rc)
		ramp_err_set(err, rc, "signatures", "out of memory");
out:
	ERR_clear_error();
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pk);
	json_decref(pub);
	buf_free(&msg);
	return rc;
}
