/*
 * tls.c - PEM files and client-certificate identities over GnuTLS (the
 * library libmicrohttpd serves TLS with). The trust list the peer is
 * verified against is the daemon's own (MHD_OPTION_HTTPS_MEM_TRUST, from
 * RAMP_TLS_CLIENT_CA), so a certificate is valid only when that CA issued it.
 */
#include "http/tls.h"

#include "common/buf.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TLS_FILE_MAX (1 << 20)

char *tls_read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct buf b;
	char chunk[4096];
	size_t n;
	int err = 0;

	if (f == NULL)
		return NULL;
	buf_init(&b, TLS_FILE_MAX - 1);
	while (err == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_append(&b, chunk, n) != 0)
			err = b.len + n > b.max ? EFBIG : ENOMEM;
	if (err == 0 && ferror(f))
		err = EIO;
	fclose(f);
	if (err == 0 && buf_append(&b, "", 0) != 0) /* an empty file is "" */
		err = ENOMEM;
	if (err) {
		buf_free(&b);
		errno = err;
		return NULL;
	}
	return b.p;
}

void tls_request_client_cert(void *session)
{
	if (session)
		gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUEST);
}

static bool id_valid(const char *s, size_t len)
{
	if (len == 0 || len > TLS_NAME_MAX - 1)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == ':' || c == '-'))
			return false;
	}
	return true;
}

static void add_name(struct tls_peer *p, const char *s, size_t len)
{
	if (p->nnames >= TLS_PEER_NAMES || !id_valid(s, len))
		return;
	memcpy(p->names[p->nnames], s, len);
	p->names[p->nnames][len] = '\0';
	p->nnames++;
}

static void read_names(gnutls_x509_crt_t crt, struct tls_peer *p)
{
	char buf[TLS_NAME_MAX + 1];
	size_t len = sizeof(buf);

	if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf, &len) == 0)
		add_name(p, buf, len);
	for (unsigned i = 0; i < 16 && p->nnames < TLS_PEER_NAMES; i++) {
		len = sizeof(buf);
		int t = gnutls_x509_crt_get_subject_alt_name(crt, i, buf, &len, NULL);
		if (t == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (t == GNUTLS_SAN_DNSNAME || t == GNUTLS_SAN_URI)
			add_name(p, buf, len);
	}
}

void tls_peer_inspect(void *session, struct tls_peer *out)
{
	const gnutls_datum_t *certs;
	unsigned int n = 0, status = 0;
	gnutls_x509_crt_t crt;

	memset(out, 0, sizeof(*out));
	out->state = TLS_PEER_NONE;
	if (session == NULL ||
	    gnutls_certificate_type_get(session) != GNUTLS_CRT_X509 ||
	    (certs = gnutls_certificate_get_peers(session, &n)) == NULL || n == 0)
		return;
	out->state = TLS_PEER_UNTRUSTED;
	if (gnutls_certificate_verify_peers2(session, &status) != 0 || status != 0)
		return;
	if (gnutls_x509_crt_init(&crt) != 0)
		return;
	if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) == 0) {
		read_names(crt, out);
		if (out->nnames > 0)
			out->state = TLS_PEER_VALID;
	}
	gnutls_x509_crt_deinit(crt);
}

const char *tls_peer_id(const struct tls_peer *p)
{
	return p->state == TLS_PEER_VALID && p->nnames > 0 ? p->names[0] : NULL;
}

bool tls_peer_names(const struct tls_peer *p, const char *device_id)
{
	if (p->state != TLS_PEER_VALID || device_id == NULL)
		return false;
	for (int i = 0; i < p->nnames; i++)
		if (strcmp(p->names[i], device_id) == 0)
			return true;
	return false;
}
