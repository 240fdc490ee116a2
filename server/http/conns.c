/*
 * conns.c - open connections in striped lists (a lock per stripe, taken
 * once when a connection opens and once when it closes, never per
 * request), a sweeper thread that cuts off clients whose headers are
 * overdue, and the figures /metrics shows.
 *
 * A connection's deadline is one atomic: the time its wait for headers
 * began (the accept, for the first request, which covers the TLS
 * handshake; the request line for later ones), 0 while no wait runs. The
 * sweeper shuts the socket down; libmicrohttpd then sees the end of the
 * stream and closes the connection in its own thread. Closing happens
 * under the stripe lock, so the sweeper never touches a reused descriptor.
 */
#include "http/conns.h"

#include "common/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define STRIPES 16
#define SWEEP_MS 250

struct conn {
	struct conn *prev, *next;
	unsigned stripe;
	int fd;
	void *tls;
	atomic_llong wait_since_ms; /* 0: not waiting for headers */
	struct tls_peer peer;       /* state TLS_PEER_UNKNOWN until looked at */
};

static struct stripe {
	pthread_mutex_t mu;
	struct conn *head;
} stripes[STRIPES];

static atomic_ullong n_open, n_total, n_refused, n_header_timeouts;
static atomic_ullong n_certs_valid, n_certs_untrusted;
static atomic_uint next_stripe;
static int max_conns = 10000, header_timeout_ms;

static pthread_t sweeper;
static bool sweeper_running;
static pthread_mutex_t stop_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stop_cv = PTHREAD_COND_INITIALIZER;
static bool stopping;

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sweep_once(long long now)
{
	for (int i = 0; i < STRIPES; i++) {
		pthread_mutex_lock(&stripes[i].mu);
		for (struct conn *c = stripes[i].head; c; c = c->next) {
			long long since = atomic_load(&c->wait_since_ms);
			if (since == 0 || now - since <= header_timeout_ms)
				continue;
			if (!atomic_compare_exchange_strong(&c->wait_since_ms, &since, 0))
				continue;
			shutdown(c->fd, SHUT_RDWR);
			atomic_fetch_add(&n_header_timeouts, 1);
		}
		pthread_mutex_unlock(&stripes[i].mu);
	}
}

static void *sweeper_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&stop_mu);
	while (!stopping) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += SWEEP_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&stop_cv, &stop_mu, &ts);
		if (stopping)
			break;
		pthread_mutex_unlock(&stop_mu);
		sweep_once(now_ms());
		pthread_mutex_lock(&stop_mu);
	}
	pthread_mutex_unlock(&stop_mu);
	return NULL;
}

int conns_start(int max_connections, int header_timeout_s)
{
	for (int i = 0; i < STRIPES; i++) {
		pthread_mutex_init(&stripes[i].mu, NULL);
		stripes[i].head = NULL;
	}
	max_conns = max_connections;
	header_timeout_ms = header_timeout_s * 1000;
	stopping = false;
	if (header_timeout_ms <= 0)
		return 0;
	if (pthread_create(&sweeper, NULL, sweeper_main, NULL) != 0) {
		log_error("msg=\"could not start the connection sweeper\"");
		return -1;
	}
	sweeper_running = true;
	return 0;
}

void conns_stop(void)
{
	if (!sweeper_running)
		return;
	pthread_mutex_lock(&stop_mu);
	stopping = true;
	pthread_cond_broadcast(&stop_cv);
	pthread_mutex_unlock(&stop_mu);
	pthread_join(sweeper, NULL);
	sweeper_running = false;
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
	atomic_init(&c->wait_since_ms, header_timeout_ms > 0 ? now_ms() : 0);
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

void conns_request_line(struct conn *c)
{
	long long zero = 0;

	if (c && header_timeout_ms > 0)
		atomic_compare_exchange_strong(&c->wait_since_ms, &zero, now_ms());
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
}
