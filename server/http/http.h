/*
 * http.h - the HTTP core over libmicrohttpd: a route table of
 * {method, pattern, handler, roles}, one request struct with its own arena,
 * bounded bodies (1 MiB, 413), bearer-token auth before any handler runs,
 * and RFC 7807 problem+json for every error.
 *
 * A handler reads the request and calls exactly one http_reply_*; anything
 * it allocates from r->arena is freed after the response is queued.
 */
#ifndef RAMP_HTTP_H
#define RAMP_HTTP_H

#include "app.h"
#include "auth/roles.h"
#include "common/arena.h"
#include "common/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_BODY (1024 * 1024)
/* a refused request's body up to this (an authorized client's, refused for
 * its size or by its handler's precheck: up to HTTP_DRAIN_AUTHED_MAX) is
 * read and dropped, so that a client that sends before it reads gets its
 * answer; larger ones are answered at once and the connection closed */
#define HTTP_DRAIN_MAX (64 * 1024)
#define HTTP_DRAIN_AUTHED_MAX (16LL * 1024 * 1024)
#define HTTP_MAX_PARAMS 4

struct req;
struct snapshot;
typedef void (*http_handler)(struct req *r);

struct route {
	const char *method;
	const char *pattern; /* "/v1/devices/{}" : {} matches one segment */
	http_handler handler;
	int roles;           /* ROLE_* bits allowed; ROLES_PUBLIC for none needed */
	int flags;
	/* ROUTE_STREAM_BODY: called once with (NULL, 0) when the headers are in
	 * and auth passed (it may reply to refuse the body), then per body
	 * chunk until it replies; the final call is handler */
	void (*on_chunk)(struct req *r, const char *data, size_t len);
};
#define ROUTE_STREAM_BODY 1 /* the handler consumes the body itself (artifacts) */
#define ROUTE_NO_METRICS 2
#define ROUTE_INLINE 4 /* answered on the MHD thread: memory only, never the database */
#define ROUTE_CERT_ENROLL 8 /* a device certificate may stand in for an enroll token */

struct http_header_kv {
	const char *k, *v;
};

struct req {
	struct app *app;
	void *conn; /* struct MHD_Connection */
	struct arena *arena;
	const char *method, *path;
	const struct route *route;
	int route_index;
	const char *params[HTTP_MAX_PARAMS];
	int nparams;
	struct auth auth;
	char *body;
	size_t body_len, body_cap;
	bool body_too_big;
	/* the response */
	int status;
	char *resp;
	size_t resp_len;
	const char *ctype;
	struct http_header_kv headers[8];
	int nheaders;
	bool replied;
	bool queued; /* handed to MHD early (a refused streamed upload) */
	void *stream; /* for ROUTE_STREAM_BODY handlers, and parked handlers' state */
	bool in_worker; /* running on the worker pool: already suspended */
	bool defer;     /* an inline route found it needs the database: rerun on a worker */
	void (*cleanup)(struct req *r); /* called once when the request ends */
	/* a request made inside rampd (conn NULL: MQTT telemetry): what
	 * http_unpark() calls instead of resuming a connection */
	void (*unparked)(struct req *r);
	bool authorized;
	bool gating;             /* suspended while a worker looks the token up */
	long long body_declared; /* by the headers: 0 none, -1 chunked, else bytes */
	bool parked; /* http_park() was called in this handler call */
	void *mhd_response; /* prebuilt (files) */
	double started;
	struct snapshot *snap; /* acquired once (http_snapshot), released on completion */
};

/* Starts the listener on host:port with a thread pool, serving routes (a
 * table ending with a {NULL} entry that outlives http_stop(); api/ hands in
 * its own). 0, or a RAMP_E* code (logged). */
int http_start(struct app *app, const struct route *routes, const char *host, int port,
	       int threads);
void http_stop(void);

/* From a ROUTE_INLINE handler on an MHD thread: give no reply and have the
 * request run again on the worker pool, where it may wait on the database.
 * Returns false (do not defer) when already on a worker. */
bool http_defer(struct req *r);
/* The snapshot this request is answered from: taken on first use and kept
 * until the request completes, so authorization and handler see one
 * picture. NULL before the first build. */
struct snapshot *http_snapshot(struct req *r);
/* http_snapshot(r), replaced by a newer one when it lacks device_id
 * (snapshot_fresh()); may read the database: not on an MHD thread. */
struct snapshot *http_snapshot_fresh(struct req *r, const char *device_id);
/* Query-string argument, or NULL. */
const char *http_query(struct req *r, const char *key);
/* Request header, or NULL. */
const char *http_header(struct req *r, const char *key);

/* Replies: each takes ownership of what it is given. */
void http_reply_json(struct req *r, int status, json_t *body);
void http_reply_problem(struct req *r, int status, const char *field,
			const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* http_reply_problem with more members beside type, title, status, detail
 * and field: extra (a JSON object, taken; NULL for none), e.g. the reasons
 * of every rejected item. */
void http_reply_problem_with(struct req *r, int status, const char *field, json_t *extra,
			     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void http_reply_empty(struct req *r, int status);
void http_reply_text(struct req *r, int status, const char *ctype, char *body, size_t len);
/* Maps a RAMP_E* code (and a parser's field/message) onto a problem reply. */
void http_reply_err(struct req *r, int code, const struct ramp_err *e);
void http_add_header(struct req *r, const char *k, const char *v);
/* Parks the request: the handler returns without replying, the connection
 * waits (its HTTP thread is free for others), and another thread later
 * calls one http_reply_* and then http_unpark(r). Park before handing r to
 * that thread. Every parked request must be unparked before http_stop(). */
void http_park(struct req *r);
/* Sends the reply of a parked request; callable from any thread, once. */
void http_unpark(struct req *r);

/* The body as a JSON value, with 415/400 replies made for the caller
 * (returns NULL then). Caller json_decref()s. */
json_t *http_json_body(struct req *r);
/* True when the request's content type is YAML (policies, manifests). */
bool http_body_is_yaml(struct req *r);
/* 415 unless the content type is JSON (or YAML when yaml_ok); true when acceptable. */
bool http_check_ctype(struct req *r, bool yaml_ok);

/* Prometheus lines for the HTTP figures, copied into a; NULL when the
 * text could not be built whole (out of memory). */
char *http_metrics_text(struct arena *a);

/* Connections, timeouts, TLS and rate-limit figures (docs/security.md);
 * NULL as http_metrics_text(). */
char *http_limits_metrics_text(struct arena *a);
/* The client certificate the request's connection showed (state
 * TLS_PEER_NONE for a plain connection or none sent). */
struct tls_peer;
const struct tls_peer *http_peer(struct req *r);

#endif
