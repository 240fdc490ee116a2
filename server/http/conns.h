/*
 * conns.h - rampd's view of its client connections: how many are open
 * (RAMP_MAX_CONNECTIONS refuses the rest at accept), a deadline for a
 * request's headers (RAMP_HEADER_TIMEOUT: a client that trickles its
 * headers, or never finishes its TLS handshake, is cut off), and the client
 * certificate each TLS connection showed, inspected once per connection,
 * and a deadline and a minimum rate for a request's body
 * (RAMP_BODY_TIMEOUT, RAMP_BODY_MIN_RATE), so that a client trickling a
 * body is cut off too.
 *
 * libmicrohttpd's own idle timeout (RAMP_CONN_TIMEOUT) covers silent
 * clients; the header deadline covers slow ones, which an idle timeout
 * never catches. Neither holds a thread: MHD's threads are event loops.
 */
#ifndef RAMP_CONNS_H
#define RAMP_CONNS_H

#include "http/tls.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conn;

/* Starts the deadline sweeper. header_timeout_s 0: no deadline;
 * body_timeout_s 0: no total deadline for bodies; body_min_rate bytes/s
 * over each CONNS_RATE_WINDOW_S, 0: none. 0, or RAMP_EINTERNAL (logged). */
int conns_start(int max_connections, int header_timeout_s, int body_timeout_s,
		int body_min_rate);
#define CONNS_RATE_WINDOW_S 5
/* Stops the sweeper (after the daemons stopped). */
void conns_stop(void);

/* Accept policy: false when max_connections are open (counted as refused). */
bool conns_accept(void);
/* A connection opened (fd, TLS session or NULL): the context MHD keeps for it. */
struct conn *conns_open(int fd, void *tls_session);
/* The connection is gone; c is freed. */
void conns_close(struct conn *c);

/* Its request line arrived: the header deadline starts (unless running);
 * target_why is the gate's verdict on the target as sent (NULL: fine). */
void conns_request_line(struct conn *c, const char *target_why);
/* That verdict for the current request (a refusal when c is NULL). */
const char *conns_target_error(struct conn *c);
/* A request body begins: the minimum rate applies, and the total body
 * deadline when with_deadline (not for streamed uploads). */
void conns_body_begin(struct conn *c, bool with_deadline);
/* n more body bytes arrived. */
void conns_body_progress(struct conn *c, size_t n);
/* The body is complete (or the request over): no body deadline. */
void conns_body_done(struct conn *c);
/* Its headers are complete: no deadline until the next request. */
void conns_headers_done(struct conn *c);
/* The client certificate of c, inspected on first use (NULL c: none). */
const struct tls_peer *conns_peer(struct conn *c);

/* Figures for /metrics. */
struct conns_stats {
	uint64_t open, total, refused, header_timeouts, body_timeouts;
	uint64_t certs_valid, certs_untrusted;
	int max_connections, header_timeout_s, body_timeout_s, body_min_rate;
};
void conns_stats(struct conns_stats *out);

#endif
