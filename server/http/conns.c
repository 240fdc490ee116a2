/*
 * conns.c - open connections in striped lists (a lock per stripe, taken
 * once when a connection opens and once when it closes, never per
 * request), a sweeper (a ticker, common/ticker.h, every SWEEP_MS) that
 * cuts off clients whose headers or bodies are overdue, and the figures
 * /metrics shows.
 *
 * A body being read has its start time, its byte count and a generation
 * (atomics written by the MHD thread); the sweeper keeps each
 * connection's rate window itself, so no lock is taken per chunk.
 *
 * A connection's deadline is one atomic: the time its wait for headers
 * began (the accept, for the first request, which covers the TLS
 * handshake; the request line for later ones), 0 while no wait runs. The
 * sweeper shuts the socket down; libmicrohttpd then sees the end of the
 * stream and closes the connection in its own thread. Closing happens
 * under the stripe lock, so the sweeper never touches a reused descriptor.
 */
#include "http/conns.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/ticker.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define STRIPES 16
#define SWEEP_MS 250

struct conn {
	struct conn *prev, *next;
	unsigned stripe;
	int fd;
	void *tls;
	atomic_llong wait_since_ms; /* 0: not waiting for headers */
	const char *target_why;     /* the gate's verdict on the request target */
	/* the body being read: since 0 when none; a new generation per body */
	atomic_llong body_since_ms;
	atomic_bool body_deadline;
	atomic_ullong body_bytes;
	atomic_uint body_gen;
	unsigned win_gen; /* the sweeper's own: the rate window of body win_gen */
	long long win_start_ms;
	unsigned long long win_bytes;
	struct tls_peer peer;       /* state TLS_PEER_UNKNOWN until looked at */
};

static struct stripe {
	pthread_mutex_t mu;
	struct conn *head;
} stripes[STRIPES];

static atomic_ullong n_open, n_total, n_refused, n_header_timeouts, n_body_timeouts;
static atomic_ullong n_certs_valid, n_certs_untrusted;
static atomic_uint next_stripe;
static int max_conns = 10000, header_timeout_ms, body_timeout_ms, body_min_rate;

static struct ticker *sweeper;

/* True when c's body is overdue: past the total deadline, or slower than
 * the minimum rate over the last window. Only the sweeper calls it. */
static bool body_overdue(struct conn *c, long long now)
{
	long long since = atomic_load(&c->body_since_ms);
	unsigned gen = atomic_load(&c->body_gen);
	unsigned long long bytes = atomic_load(&c->body_bytes);

	if (since == 0)
		return false;
	if (gen != c->win_gen) {
		c->win_gen = gen;
		c->win_start_ms = since;
		c->win_bytes = 0;
	}
	if (body_timeout_ms > 0 && atomic_load(&c->body_deadline) &&
	    now - since > body_timeout_ms)
		return true;
	if (body_min_rate <= 0 || now - c->win_start_ms < CONNS_RATE_WINDOW_S * 1000)
		return false;
	if ((bytes - c->win_bytes) * 1000 < (unsigned long long)body_min_rate *
						   (unsigned long long)(now - c->win_start_ms))
		return true;
	c->win_start_ms = now;
	c->win_bytes = bytes;
	return false;
}

static void sweep_once(long long now)
{
	for (int i = 0; i < STRIPES; i++) {
		pthread_mutex_lock(&stripes[i].mu);
		for (struct conn *c = stripes[i].head; c; c = c->next) {
			long long since = atomic_load(&c->wait_since_ms);
			if (body_overdue(c, now)) {
				atomic_store(&c->body_since_ms, 0);
				shutdown(c->fd, SHUT_RDWR);
				atomic_fetch_add(&n_body_timeouts, 1);
				continue;
			}
			if (since == 0 || header_timeout_ms <= 0 || now - since <= header_timeout_ms)
				continue;
			if (!atomic_compare_exchange_strong(&c->wait_since_ms, &since, 0))
				continue;
			shutdown(c->fd, SHUT_RDWR);
			atomic_fetch_add(&n_header_timeouts, 1);
		}
		pthread_mutex_unlock(&stripes[i].mu);
	}
}

/* One round of the sweeper (a ticker, every SWEEP_MS). */
static bool sweep_round(struct ticker *t, void *ctx)
{
	(void)t;
	(void)ctx;
	sweep_once(clock_mono_ms());
	return false;
}

int conns_start(int max_connections, int header_timeout_s, int body_timeout_s,
		int min_rate)
{
	for (int i = 0; i < STRIPES; i++) {
		pthread_mutex_init(&stripes[i].mu, NULL);
		stripes[i].head = NULL;
	}
	max_conns = max_connections;
	header_timeout_ms = header_timeout_s * 1000;
	body_timeout_ms = body_timeout_s * 1000;
	body_min_rate = min_rate;
	if (header_timeout_ms <= 0 && body_timeout_ms <= 0 && body_min_rate <= 0)
		return 0;
	sweeper = ticker_start(SWEEP_MS, sweep_round, NULL);
	if (sweeper == NULL) {
		log_error("msg=\"could not start the connection sweeper\"");
		return RAMP_EINTERNAL;
	}
	return 0;
}

void conns_stop(void)
{
	ticker_stop(sweeper);
	sweeper = NULL;
}

bool conns_accept(void)
{
	if (atomic_load(&n_open) >= (unsigned long long)max_conns) {
		atomic_fetch_add(&n_refused, 1);
		return false;
	}
	return true;
}

struct conn *conns_open(int fd, void *tls_session)
{
	struct conn *c = calloc(1, sizeof(*c));
	struct stripe *s;

	atomic_fetch_add(&n_open, 1);
	atomic_fetch_add(&n_total, 1);
	if (c == NULL)
		return NULL;
	c->fd = fd;
	c->tls = tls_session;
	c->stripe = atomic_fetch_add(&next_stripe, 1) % STRIPES;
	atomic_init(&c->wait_since_ms, header_timeout_ms > 0 ? clock_mono_ms() : 0);
	s = &stripes[c->stripe];
	pthread_mutex_lock(&s->mu);
	c->next = s->head;
	if (s->head)
		s->head->prev = c;
	s->head = c;
	pthread_mutex_unlock(&s->mu);
	return c;
}

void conns_close(struct conn *c)
{
	struct stripe *s;

	atomic_fetch_sub(&n_open, 1);
	if (c == NULL)
		return;
	s = &stripes[c->stripe];
	pthread_mutex_lock(&s->mu);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&s->mu);
	free(c);
}

void conns_request_line(struct conn *c, const char *target_why)
{
	long long zero = 0;

	if (c == NULL)
		return;
	c->target_why = target_why;
	if (header_timeout_ms > 0)
		atomic_compare_exchange_strong(&c->wait_since_ms, &zero, clock_mono_ms());
}

const char *conns_target_error(struct conn *c)
{
	return c ? c->target_why : "the connection's state could not be kept";
}

void conns_body_begin(struct conn *c, bool with_deadline)
{
	if (c == NULL)
		return;
	atomic_store(&c->body_bytes, 0);
	atomic_store(&c->body_deadline, with_deadline);
	atomic_fetch_add(&c->body_gen, 1);
	atomic_store(&c->body_since_ms, clock_mono_ms());
}

void conns_body_progress(struct conn *c, size_t n)
{
	if (c)
		atomic_fetch_add(&c->body_bytes, n);
}

void conns_body_done(struct conn *c)
{
	if (c)
		atomic_store(&c->body_since_ms, 0);
}

void conns_headers_done(struct conn *c)
{
	if (c)
		atomic_store(&c->wait_since_ms, 0);
}

const struct tls_peer *conns_peer(struct conn *c)
{
	static const struct tls_peer none = {TLS_PEER_NONE, 0, {{0}}};

	if (c == NULL || c->tls == NULL)
		return &none;
	if (c->peer.state == TLS_PEER_UNKNOWN) {
		tls_peer_inspect(c->tls, &c->peer);
		if (c->peer.state == TLS_PEER_VALID)
			atomic_fetch_add(&n_certs_valid, 1);
		else if (c->peer.state == TLS_PEER_UNTRUSTED)
			atomic_fetch_add(&n_certs_untrusted, 1);
	}
	return &c->peer;
}

void conns_stats(struct conns_stats *out)
{
	out->open = atomic_load(&n_open);
	out->total = atomic_load(&n_total);
	out->refused = atomic_load(&n_refused);
	out->header_timeouts = atomic_load(&n_header_timeouts);
	out->certs_valid = atomic_load(&n_certs_valid);
	out->certs_untrusted = atomic_load(&n_certs_untrusted);
	out->max_connections = max_conns;
	out->header_timeout_s = header_timeout_ms / 1000;
	out->body_timeouts = atomic_load(&n_body_timeouts);
	out->body_timeout_s = body_timeout_ms / 1000;
	out->body_min_rate = body_min_rate;
}
