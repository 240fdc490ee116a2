/*
 * net.h - the simulator's HTTP client: a fixed pool of request slots over
 * one libcurl multi handle. Connections are HTTP/1.1 keep-alive and shared
 * through the multi's connection cache, so a pool of 64 slots holds about
 * 64 connections however many devices take turns on them. Single-threaded:
 * net_wait() runs transfers and calls each finished slot's callback.
 */
#ifndef RAMP_SIM_NET_H
#define RAMP_SIM_NET_H

#include "buf.h"

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

struct net;
struct net_req;
typedef void (*net_done_fn)(struct net_req *q, void *ud);

/* One request slot. The caller fills `body` (and sets the fields below)
 * between net_get() and net_send(); the result fields are valid in the
 * callback, after which the slot returns to the pool. */
struct net_req {
	struct buf body;  /* request body to send */
	struct buf resp;  /* response body (unless hashing) */
	long status;      /* HTTP status; 0 when the transfer failed */
	char etag[80];    /* the response's ETag, "" when none */
	char error[128];  /* transport error when status is 0 */
	double secs;      /* request duration */
	int64_t bytes;    /* response body bytes received */
	int hash;         /* hash the response body into md instead of keeping it */
	unsigned char md[32];
	/* private */
	void *easy, *hdrs;
	EVP_MD_CTX *mdctx;
	net_done_fn done;
	void *ud;
	int busy;
	uint64_t started_ns;
	char url[1024];
};

/* A client for base ("http://127.0.0.1:8080") with `slots` concurrent
 * requests; NULL on failure (message on stderr). */
struct net *net_new(const char *base, int slots);
void net_free(struct net *n);
/* A free slot with its body emptied, or NULL when all are busy. */
struct net_req *net_get(struct net *n);
/* Returns a slot from net_get() that was not sent after all. */
void net_put(struct net *n, struct net_req *q);
/* Free slots. */
int net_idle(const struct net *n);
/*
 * Starts a request on slot q (from net_get()): method and path (absolute
 * URLs are used as they are), bearer token (NULL: none), content type of
 * q->body when it is non-empty, and up to two extra header lines ("Name:
 * value", NULL to skip). done(q, ud) runs from net_wait() when it ends.
 * Returns 0, or -1 after calling nothing (the slot is free again).
 */
int net_send(struct net *n, struct net_req *q, const char *method, const char *path,
	     const char *token, const char *ctype, const char *h1, const char *h2,
	     net_done_fn done, void *ud);
/* Waits up to timeout_ms for network activity, advances transfers, and runs
 * the callbacks of those that ended. Returns how many ended. */
int net_wait(struct net *n, int timeout_ms);
/* Runs net_wait() until every slot is free or timeout_ms passes. */
void net_drain(struct net *n, int timeout_ms);
/* Monotonic nanoseconds. */
uint64_t net_now_ns(void);

#endif
