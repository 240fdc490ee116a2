/*
 * tls.h - what rampd needs from GnuTLS beyond libmicrohttpd's own TLS:
 * reading the PEM files it serves with, and the identity a client
 * certificate proves (docs/security.md "Device certificates").
 *
 * A peer is looked at once per connection (the verification is the
 * expensive part); the answer is kept with the connection (http/conns.h).
 */
#ifndef RAMP_TLS_H
#define RAMP_TLS_H

#include <stdbool.h>
#include <stddef.h>

#define TLS_PEER_NAMES 4
#define TLS_NAME_MAX 129 /* a device id and its NUL */

enum tls_peer_state {
	TLS_PEER_UNKNOWN = 0, /* not looked at yet */
	TLS_PEER_NONE,        /* plain connection, or no certificate sent */
	TLS_PEER_VALID,       /* issued by RAMP_TLS_CLIENT_CA, in date */
	TLS_PEER_UNTRUSTED,   /* sent, but not issued by the CA or out of date */
};

/* Who the client certificate names: subject CN and DNS/URI SANs that are
 * device ids ([A-Za-z0-9._:-]{1,128}), CN first. */
struct tls_peer {
	enum tls_peer_state state;
	int nnames;
	char names[TLS_PEER_NAMES][TLS_NAME_MAX];
};

/* Reads a whole PEM file into a new NUL-terminated buffer (caller frees);
 * NULL with errno set when it cannot. */
char *tls_read_file(const char *path);

/* Verifies and reads the peer certificate of a GnuTLS session (NULL for a
 * plain connection) into *out. Never fails: problems make the state
 * TLS_PEER_NONE or TLS_PEER_UNTRUSTED. */
void tls_peer_inspect(void *gnutls_session, struct tls_peer *out);

/* Asks the client of a new session for a certificate (optional: a client
 * without one still connects). */
void tls_request_client_cert(void *gnutls_session);

/* The name a certificate-only login uses (the CN, else the first SAN), or NULL. */
const char *tls_peer_id(const struct tls_peer *p);

/* True when a valid certificate names device_id. */
bool tls_peer_names(const struct tls_peer *p, const char *device_id);

#endif
