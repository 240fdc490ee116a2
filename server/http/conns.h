/*
 * conns.h - rampd's view of its client connections: how many are open
 * (RAMP_MAX_CONNECTIONS refuses the rest at accept), a deadline for a
 * request's headers (RAMP_HEADER_TIMEOUT: a client that trickles its
 * headers, or never finishes its TLS handshake, is cut off), and the client
 * certificate each TLS connection showed, inspected once per connection.
 *
 * libmicrohttpd's own idle timeout (RAMP_CONN_TIMEOUT) covers silent
 * clients; the header deadline covers slow ones, which an idle timeout
 * never catches. Neither holds a thread: MHD's threads are event loops.
 */
#ifndef RAMP_CONNS_H
#define RAMP_CONNS_H

#include "http/tls.h"

#include <stdbool.h>
#include <stdint.h>

struct conn;

/* Starts the deadline sweeper. header_timeout_s 0: no deadline. 0 or -1. */
int conns_start(int max_connections, int header_timeout_s);
/* Stops the sweeper (after the daemons stopped). */
void conns_stop(void);

/* Accept policy: false when max_connections are open (counted as refused). */
bool conns_accept(void);
/* A connection opened (fd, TLS session or NULL): the context MHD keeps for it. */
struct conn *conns_open(int fd, void *tls_session);
/* The connection is gone; c is freed. */
void conns_close(struct conn *c);

/* Its request line arrived: the header deadline starts (unless running). */
void conns_request_line(struct conn *c);
/* Its headers are complete: no deadline until the next request. */
void conns_headers_done(struct conn *c);
/* The client certificate of c, inspected on first use (NULL c: none). */
const struct tls_peer *conns_peer(struct conn *c);

/* Figures for /metrics. */
struct conns_stats {
	uint64_t open, total, refused, header_timeouts;
	uint64_t certs_valid, certs_untrusted;
	int max_connections, header_timeout_s;
};
void conns_stats(struct conns_stats *out);

#endif
