/*
 * test_sig.c - signature checks against fixtures made by the openssl CLI
 * (tests/unit/fixtures/sig/README.md says how), plus base64 and SHA-256.
 */
#include "domain/sig.h"
#include "common/err.h"
#include "unit.h"

#define FIX "tests/unit/fixtures/sig/"

/* The fingerprints `openssl pkey -pubin -outform DER | sha256sum` printed. */
#define FPR_ECDSA "aa2a47123b8c87f30a9592b7130fc7cc2b2363683cbf6ecc187c71f0d0ecf68d"
#define FPR_ED25519 "85f90f21312c2a2f6d90959f757afa92538289ff4407fe63d0a088d1e0c3d87b"

struct blob {
	char *p;
	size_t n;
};

static struct blob load(const char *name)
{
	char path[256];
	struct blob b = {malloc(1 << 16), 0};
	FILE *f;

	snprintf(path, sizeof(path), FIX "%s", name);
	f = fopen(path, "rb");
	if (f == NULL || b.p == NULL) {
		fprintf(stderr, "  cannot read %s (run from the repo root)\n", path);
		exit(1);
	}
	b.n = fread(b.p, 1, (1 << 16) - 1, f);
	b.p[b.n] = '\0';
	fclose(f);
	return b;
}

/* sig_verify of fixture files: key, signed text, signature. */
static int verify(const char *key, const char *text, const char *sig,
		  struct ramp_err *e)
{
	struct blob k = load(key), t = load(text), s = load(sig);
	int rc = sig_verify(k.p, k.n, t.p, t.n, s.p, e);

	free(k.p);
	free(t.p);
	free(s.p);
	return rc;
}

static void ecdsa_signature_verifies(void)
{
	struct ramp_err e;

	CHECK_EQ_INT(verify("ecdsa.pub", "manifest.yaml", "manifest.yaml.ecdsa.sig", &e), 0);
	CHECK_EQ_INT(e.code, 0);
}

static void ed25519_signature_with_trailing_newline_verifies(void)
{
	struct blob s = load("manifest.yaml.ed25519.sig");
	struct ramp_err e;

	CHECK(s.n == 89 && s.p[88] == '\n');
	CHECK_EQ_INT(verify("ed25519.pub", "manifest.yaml", "manifest.yaml.ed25519.sig", &e), 0);
	free(s.p);
}

static void one_changed_byte_fails(void)
{
	struct blob k = load("ecdsa.pub"), t = load("manifest.yaml");
	struct blob s = load("manifest.yaml.ecdsa.sig");
	struct blob ek = load("ed25519.pub"), es = load("manifest.yaml.ed25519.sig");
	struct ramp_err e;

	t.p[20] ^= 1;
	CHECK_EQ_INT(sig_verify(k.p, k.n, t.p, t.n, s.p, &e), RAMP_EINVAL);
	CHECK_EQ_STR(e.msg, "signature does not verify");
	CHECK_EQ_STR(e.field, "signature");
	CHECK_EQ_INT(sig_verify(ek.p, ek.n, t.p, t.n, es.p, &e), RAMP_EINVAL);
	CHECK_EQ_STR(e.msg, "signature does not verify");
	t.p[20] ^= 1;
	CHECK_EQ_INT(sig_verify(k.p, k.n, t.p, t.n - 1, s.p, &e), RAMP_EINVAL);
	CHECK_EQ_INT(sig_verify(k.p, k.n, t.p, t.n, s.p, &e), 0);
	free(k.p);
	free(t.p);
	free(s.p);
	free(ek.p);
	free(es.p);
}

static void signature_by_another_key_fails(void)
{
	struct ramp_err e;

	CHECK_EQ_INT(verify("ecdsa.pub", "manifest.yaml", "manifest.yaml.ecdsa2.sig", &e), RAMP_EINVAL);
	CHECK_EQ_STR(e.msg, "signature does not verify");
	CHECK_EQ_INT(verify("ecdsa2.pub", "manifest.yaml", "manifest.yaml.ecdsa2.sig", &e), 0);
}

static void signature_of_the_other_algorithm_fails(void)
{
	struct ramp_err e;

	CHECK_EQ_INT(verify("ecdsa.pub", "manifest.yaml", "manifest.yaml.ed25519.sig", &e), RAMP_EINVAL);
	CHECK_EQ_STR(e.msg, "signature does not verify");
	CHECK_EQ_INT(verify("ed25519.pub", "manifest.yaml", "manifest.yaml.ecdsa.sig", &e), RAMP_EINVAL);
	CHECK_EQ_STR(e.msg, "signature does not verify");
}

static void key_check_reports_algorithm_and_fingerprint(void)
{
	struct blob ec = load("ecdsa.pub"), ed = load("ed25519.pub");
	enum sig_alg alg = SIG_ED25519;
	char fpr[65];
	struct ramp_err e;

	CHECK_EQ_INT(sig_key_check(ec.p, ec.n, &alg, fpr, &e), 0);
	CHECK_EQ_INT(alg, SIG_ECDSA_P256);
	CHECK_EQ_STR(fpr, FPR_ECDSA);
	CHECK_EQ_STR(sig_alg_name(alg), "ecdsa-p256");
	CHECK_EQ_INT(sig_key_check(ed.p, ed.n, &alg, fpr, &e), 0);
	CHECK_EQ_INT(alg, SIG_ED25519);
	CHECK_EQ_STR(fpr, FPR_ED25519);
	CHECK_EQ_STR(sig_alg_name(alg), "ed25519");
	CHECK_EQ_INT(sig_key_check(ed.p, ed.n, NULL, NULL, &e), 0);
	free(ec.p);
	free(ed.p);
}

static void fingerprint_ignores_pem_framing(void)
{
	struct blob ec = load("ecdsa.pub");
	char framed[1024], fpr[65];
	struct ramp_err e;

	/* same key, CRLF line ends and a leading comment line */
	size_t o = (size_t)snprintf(framed, sizeof(framed), "key for ci\r\n");

	for (size_t i = 0; i < ec.n && o + 2 < sizeof(framed); i++) {
		if (ec.p[i] == '\n')
			framed[o++] = '\r';
		framed[o++] = ec.p[i];
	}
	CHECK_EQ_INT(sig_key_check(framed, o, NULL, fpr, &e), 0);
	CHECK_EQ_STR(fpr, FPR_ECDSA);
	free(ec.p);
}

static void unsupported_keys_are_rejected(void)
{
	static const char *const keys[] = {"rsa.pub", "p384.pub"};
	static const char *const msgs[] = {
		"unsupported key type \"RSA\": only ecdsa-p256 and ed25519 are accepted",
		"unsupported elliptic curve \"secp384r1\": only P-256 is accepted",
	};
	struct ramp_err e;

	for (int i = 0; i < 2; i++) {
		struct blob k = load(keys[i]);

		CHECK_EQ_INT(sig_key_check(k.p, k.n, NULL, NULL, &e), RAMP_EINVAL);
		CHECK_EQ_STR(e.field, "public_key");
		CHECK_EQ_STR(e.msg, msgs[i]);
		free(k.p);
	}
	CHECK_EQ_INT(verify("rsa.pub", "manifest.yaml", "manifest.yaml.rsa.sig", &e), RAMP_EINVAL);
	CHECK_EQ_STR(e.msg, msgs[0]);
}

static void private_keys_and_garbage_are_rejected(void)
{
	static const char *const garbage =
		"-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n";
	struct blob priv = load("ecdsa.key");
	struct ramp_err e;

	CHECK_EQ_INT(sig_key_check(priv.p, priv.n, NULL, NULL, &e), RAMP_EINVAL);
	CHECK_EQ_STR(e.msg, "is a private key: send the public key (openssl pkey -pubout)");
	CHECK_EQ_INT(sig_key_check(garbage, strlen(garbage), NULL, NULL, &e), RAMP_EINVAL);
	CHECK_EQ_STR(e.msg, "is not a PEM public key (-----BEGIN PUBLIC KEY-----)");
	CHECK_EQ_INT(sig_key_check("hello", 5, NULL, NULL, &e), RAMP_EINVAL);
	CHECK_EQ_STR(e.msg, "is not a PEM public key (-----BEGIN PUBLIC KEY-----)");
	CHECK_EQ_INT(sig_key_check("", 0, NULL, NULL, &e), RAMP_EINVAL);
	CHECK_EQ_STR(e.msg, "is empty");
	CHECK_EQ_INT(sig_verify("junk", 4, "x", 1, "AAAA", &e), RAMP_EINVAL);
	CHECK_EQ_STR(e.field, "public_key");
	free(priv.p);
}

static void non_base64_signature_is_rejected(void)
{
	static const char *const bad[] = {"not base64!", "AAA", "AA=A", "A===",
					  "AAAA-_==", "=AAA"};
	struct blob k = load("ecdsa.pub");
	struct ramp_err e;

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		CHECK_EQ_INT(sig_verify(k.p, k.n, "x", 1, bad[i], &e), RAMP_EINVAL);
		CHECK_EQ_STR(e.msg, "signature is not base64");
	}
	CHECK_EQ_INT(sig_verify(k.p, k.n, "x", 1, NULL, &e), RAMP_EINVAL);
	CHECK_EQ_STR(e.msg, "signature is not base64");
	CHECK_EQ_INT(sig_verify(k.p, k.n, "x", 1, " \n", &e), RAMP_EINVAL);
	CHECK_EQ_STR(e.msg, "signature is empty");
	free(k.p);
}

static void wrapped_base64_signature_verifies(void)
{
	struct blob s = load("manifest.yaml.ecdsa.sig");
	struct blob k = load("ecdsa.pub"), t = load("manifest.yaml");
	char wrapped[256];
	struct ramp_err e;

	/* as `base64` without -w0 writes: 76 columns, then a newline */
	snprintf(wrapped, sizeof(wrapped), "%.76s\n%s\n", s.p, s.p + 76);
	CHECK_EQ_INT(sig_verify(k.p, k.n, t.p, t.n, wrapped, &e), 0);
	free(s.p);
	free(k.p);
	free(t.p);
}

static void base64_round_trips_known_vectors(void)
{
	/* RFC 4648 section 10 */
	static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==",
					  "Zm9vYmE=", "Zm9vYmFy"};

	for (int i = 0; i < 7; i++) {
		char *b = sig_base64_encode(plain[i], strlen(plain[i]));
		unsigned char *d = NULL;
		size_t n = 99;

		CHECK_EQ_STR(b, enc[i]);
		CHECK_EQ_INT(sig_base64_decode(enc[i], &d, &n), 0);
		CHECK_EQ_INT(n, strlen(plain[i]));
		CHECK(d != NULL && memcmp(d, plain[i], n) == 0);
		free(b);
		free(d);
	}
}

static void sha256_hex_matches_known_digests(void)
{
	char out[65];

	sig_sha256_hex("", 0, out);
	CHECK_EQ_STR(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	sig_sha256_hex("abc", 3, out);
	CHECK_EQ_STR(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static const struct unit_case cases[] = {
	UNIT(ecdsa_signature_verifies),
	UNIT(ed25519_signature_with_trailing_newline_verifies),
	UNIT(one_changed_byte_fails),
	UNIT(signature_by_another_key_fails),
	UNIT(signature_of_the_other_algorithm_fails),
	UNIT(key_check_reports_algorithm_and_fingerprint),
	UNIT(fingerprint_ignores_pem_framing),
	UNIT(unsupported_keys_are_rejected),
	UNIT(private_keys_and_garbage_are_rejected),
	UNIT(non_base64_signature_is_rejected),
	UNIT(wrapped_base64_signature_verifies),
	UNIT(base64_round_trips_known_vectors),
	UNIT(sha256_hex_matches_known_digests),
	{0},
};
UNIT_MAIN(cases)
