/*
 * http.c - the HTTP daemon over libmicrohttpd: starting and stopping it
 * (TLS, the plain listener, the worker pool), and its callbacks on the MHD
 * threads: connection open/close, the request line, and the access handler
 * that walks a request from its headers (intake.c) to its handler
 * (http_dispatch, inline or on a worker) and its reply. Sits under api/:
 * handlers come from the route table; above auth/ and snapshot/.
 *
 * libmicrohttpd 0.9.75 closes the connection when a response is queued on
 * the first call of the access handler, so the first call only judges the
 * request (intake.c: the gate and the token, before any body byte) and
 * returns MHD_YES; the reply is queued on the last call (upload finished),
 * which keeps HTTP/1.1 keep-alive working. A refusal of a request with a
 * large or unknown body, or from a client waiting for "100 Continue", is
 * queued on the first call, so the body is never read, and the connection
 * closes after the answer.
 *
 * TLS (RAMP_TLS_CERT/KEY) is libmicrohttpd's own, over GnuTLS; a second,
 * plain daemon serves RAMP_PLAIN_LISTEN when asked for. Connections are
 * tracked by conns.c (limit, header deadline, client certificate). The
 * rest of the layer: route.c (matching), gate.c (checks before the body),
 * authz.c (token, certificate, role, rate), reply.c (replies), workers.c
 * (the pool), metrics.c (figures for /metrics).
 */
#include "http/http.h"

#include "common/clock.h"
#include "common/log.h"
#include "http/authz.h"
#include "http/conns.h"
#include "http/gate.h"
#include "http/intake.h"
#include "http/metrics.h"
#include "http/ratelimit.h"
#include "http/reply.h"
#include "http/tls.h"
#include "http/workers.h"
#include "snapshot/snapshot.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct MHD_Daemon *daemons_[2]; /* the listener, and the plain one if any */
static char *tls_pem[3];               /* certificate, key, client CA */
static const struct route *routes_;    /* api/routes.c, via http_start() */

/* Set by http_park() on the thread running the handler: after a park the
 * request belongs to whoever will unpark it, and may be gone already. */
static __thread bool tls_parked;

void http_park(struct req *r)
{
	/* a parked request waits on the database, maybe for seconds: it must not
	 * keep an old generation of the fleet alive meanwhile */
	snapshot_release(r->snap);
	r->snap = NULL;
	r->parked = true;
	tls_parked = true;
	/* a worker's request is suspended already; an inline one is not */
	if (!r->in_worker)
		MHD_suspend_connection(r->conn);
}

void http_unpark(struct req *r)
{
	if (r->conn == NULL) {
		r->unparked(r);
		return;
	}
	MHD_resume_connection(r->conn);
}

struct conn *http_conn(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

const struct tls_peer *http_peer(struct req *r)
{
	return conns_peer(http_conn(r->conn));
}

struct snapshot *http_snapshot(struct req *r)
{
	if (r->snap == NULL)
		r->snap = snapshot_acquire();
	return r->snap;
}

struct snapshot *http_snapshot_fresh(struct req *r, const char *device_id)
{
	r->snap = snapshot_fresh(r->app, r->snap, device_id);
	return r->snap;
}

bool http_dispatch(struct req *r)
{
	if (r->route == NULL) {
		http_reply_problem(r, 404, NULL, "no such resource");
		return false;
	}
	if (r->body_too_big) {
		http_reply_problem(r, 413, NULL, "request body exceeds %d bytes", HTTP_MAX_BODY);
		return false;
	}
	if (!r->authorized && !http_authorize(r))
		return false;
	r->authorized = true;
	tls_parked = false;
	r->route->handler(r);
	if (tls_parked)
		return true; /* its reply is another thread's to write: do not look */
	if (!r->replied && !r->defer)
		http_reply_problem(r, 500, NULL, "handler gave no answer");
	return false;
}

/* Suspends r and hands it to a worker; MHD calls us again once resumed. */
static enum MHD_Result run_on_worker(struct MHD_Connection *conn, struct req *r)
{
	MHD_suspend_connection(conn);
	if (http_workers_submit(r))
		return MHD_YES;
	MHD_resume_connection(conn);
	http_reply_problem(r, 503, NULL, "server busy, retry shortly");
	return http_reply_send(r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct req *r = *con_cls;

	if (r == NULL) {
		struct arena *a = arena_new();
		if (a == NULL || (r = arena_calloc(a, 1, sizeof(*r))) == NULL) {
			arena_free(a);
			return MHD_NO;
		}
		r->arena = a;
		r->app = cls;
		r->conn = conn;
		r->method = method;
		r->path = url;
		r->started = clock_mono_s();
		r->route_index = -1;
		*con_cls = r;
		conns_headers_done(http_conn(conn));
		return intake_headers(r);
	}
	if (r->gating) {
		/* resumed by the worker that looked the token up */
		r->gating = false;
		return intake_resumed(r);
	}
	if (r->queued) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size) {
		enum MHD_Result rc = intake_chunk(r, upload, *upload_size);
		*upload_size = 0;
		return rc;
	}
	conns_body_done(http_conn(conn));
	if (r->body == NULL)
		r->body = "";
	/* a refused request, or one resumed by a worker or an unpark, has its reply set */
	if (r->replied)
		return http_reply_send(r);
	if (r->route && !(r->route->flags & ROUTE_INLINE) && !r->body_too_big)
		return run_on_worker(conn, r);
	if (http_dispatch(r))
		return MHD_YES; /* parked: suspended until http_unpark() */
	if (r->defer && !r->replied)
		return run_on_worker(conn, r);
	return http_reply_send(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct req *r = *con_cls;
	double dur;

	if (r == NULL)
		return;
	conns_body_done(http_conn(conn));
	if (toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED)
		http_metrics_timeout();
	dur = clock_mono_s() - r->started;
	if (!(r->route && (r->route->flags & ROUTE_NO_METRICS)))
		http_metrics_count(r, dur);
	if (r->app->cfg.access_log || r->status >= 500)
		log_info("msg=request method=%s path=\"%s\" status=%d dur_ms=%.2f actor=%s",
			 r->method, r->path, r->status, dur * 1000,
			 r->auth.name ? r->auth.name : "-");
	if (r->cleanup)
		r->cleanup(r);
	snapshot_release(r->snap);
	free(r->resp);
	if (r->mhd_response)
		MHD_destroy_response(r->mhd_response);
	arena_free(r->arena);
	*con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	const union MHD_ConnectionInfo *fd, *tls;
	void *session = NULL;

	if (code != MHD_CONNECTION_NOTIFY_STARTED) {
		conns_close(*socket_context);
		*socket_context = NULL;
		return;
	}
	fd = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (tls_pem[0] && (tls = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION)))
		session = tls->tls_session;
	if (session && tls_pem[2])
		tls_request_client_cert(session);
	/* GnuTLS writes a handshake flight in several records: without this,
	 * Nagle holds the later ones for the client's delayed ACK (~40 ms) */
	if (session && fd) {
		int one = 1;
		setsockopt(fd->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	*socket_context = conns_open(fd ? fd->connect_fd : -1, session);
}

/* The target as sent, before libmicrohttpd decodes it (%00 would cut it
 * short, %2F would look like a slash): gate_target() judges it here. */
static void *on_request_line(void *cls, const char *uri, struct MHD_Connection *c)
{
	conns_request_line(http_conn(c), gate_target(uri));
	return NULL;
}

static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
	return conns_accept() ? MHD_YES : MHD_NO;
}

/* Reads RAMP_TLS_CERT, RAMP_TLS_KEY and RAMP_TLS_CLIENT_CA; 0 or RAMP_EIO (logged). */
static int load_tls(const struct config *cfg)
{
	const char *paths[3] = {cfg->tls_cert, cfg->tls_key, cfg->tls_client_ca};

	for (int i = 0; i < 3; i++) {
		if (!paths[i][0])
			continue;
		tls_pem[i] = tls_read_file(paths[i]);
		if (tls_pem[i] == NULL) {
			log_error("msg=\"could not read a TLS file\" path=\"%s\" error=\"%s\"", paths[i],
				  strerror(errno));
			return RAMP_EIO;
		}
	}
	return 0;
}

#define OPT(o, v, p) (ops[n++] = (struct MHD_OptionItem){(o), (intptr_t)(v), (p)})

/* host as a socket address: an IPv4 or IPv6 literal, or "localhost"
 * (127.0.0.1: no resolver at start-up). False when it is neither. */
static bool listen_addr(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (strcmp(host, "localhost") == 0)
		host = "127.0.0.1";
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*len = sizeof(*sin);
		return true;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*sin6);
		return true;
	}
	return false;
}

/* Why the address cannot be bound (MHD does not say): binds it once more. */
static const char *bind_error(const struct sockaddr_storage *ss, socklen_t len)
{
	int fd = socket(ss->ss_family, SOCK_STREAM, 0), one = 1, err = 0;

	if (fd < 0)
		return strerror(errno);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, len) != 0)
		err = errno;
	close(fd);
	return err ? strerror(err) : "unknown error";
}

/* One daemon on host:port; TLS when with_tls. NULL (logged) when it cannot
 * listen. No SO_REUSEPORT: a port in use is an error, not a shared port
 * that the kernel would spread new connections over (MHD still sets
 * SO_REUSEADDR, so a restart binds at once). */
static struct MHD_Daemon *start_daemon(struct app *app, const char *host, int port,
				       int threads, bool with_tls)
{
	const struct config *cfg = &app->cfg;
	struct MHD_OptionItem ops[24];
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct MHD_Daemon *d;
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
			 MHD_USE_ERROR_LOG;
	int n = 0;

	if (!listen_addr(host, port, &ss, &sslen)) {
		log_error("msg=\"listen address must be an IPv4 or IPv6 address or localhost\" host=%s",
			  host);
		return NULL;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	OPT(MHD_OPTION_SOCK_ADDR, 0, &ss);
	OPT(MHD_OPTION_THREAD_POOL_SIZE, threads, NULL);
	OPT(MHD_OPTION_NOTIFY_COMPLETED, on_completed, app);
	OPT(MHD_OPTION_NOTIFY_CONNECTION, on_connection, app);
	OPT(MHD_OPTION_URI_LOG_CALLBACK, on_request_line, app);
	OPT(MHD_OPTION_CONNECTION_TIMEOUT, cfg->conn_timeout_s, NULL);
	/* the real limit is conns_accept(); MHD splits its own across threads */
	OPT(MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections * threads + 16, NULL);
	OPT(MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, NULL);
	if (with_tls) {
		flags |= MHD_USE_TLS;
		OPT(MHD_OPTION_HTTPS_MEM_CERT, 0, tls_pem[0]);
		OPT(MHD_OPTION_HTTPS_MEM_KEY, 0, tls_pem[1]);
		OPT(MHD_OPTION_HTTPS_PRIORITIES, 0,
		    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2");
		if (tls_pem[2])
			OPT(MHD_OPTION_HTTPS_MEM_TRUST, 0, tls_pem[2]);
	}
	OPT(MHD_OPTION_END, 0, NULL);
	d = MHD_start_daemon(flags, (uint16_t)port, on_accept, app, on_request, app,
			     MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
	if (d == NULL)
		log_error("msg=\"could not listen\" addr=%s%s%s:%d tls=%d error=\"%s\"",
			  ss.ss_family == AF_INET6 ? "[" : "", host,
			  ss.ss_family == AF_INET6 ? "]" : "", port, with_tls, bind_error(&ss, sslen));
	return d;
}

const struct route *http_table(void)
{
	return routes_;
}

int http_start(struct app *app, const struct route *routes, const char *host, int port,
	       int threads)
{
	const struct config *cfg = &app->cfg;
	int rc;

	if ((rc = http_workers_start(cfg->workers)) != 0) {
		log_error("msg=\"could not start worker threads\"");
		return rc;
	}
	routes_ = routes;
	ratelimit_init(cfg->rate);
	if ((rc = load_tls(cfg)) != 0 ||
	    (rc = conns_start(cfg->max_connections, cfg->header_timeout_s, cfg->body_timeout_s,
			      cfg->body_min_rate)) != 0)
		return rc;
	http_metrics_start(cfg->conn_timeout_s, tls_pem[0] != NULL, routes);
	daemons_[0] = start_daemon(app, host, port, threads, tls_pem[0] != NULL);
	if (daemons_[0] == NULL)
		return RAMP_EIO;
	if (cfg->plain_port) {
		daemons_[1] = start_daemon(app, cfg->plain_host, cfg->plain_port, 1, false);
		if (daemons_[1] == NULL)
			return RAMP_EIO;
	}
	return 0;
}

void http_stop(void)
{
	/* suspended connections must be resumed before the daemon stops */
	http_workers_drain();
	for (int i = 0; i < 2; i++) {
		if (daemons_[i])
			MHD_stop_daemon(daemons_[i]);
		daemons_[i] = NULL;
	}
	http_workers_join();
	conns_stop();
	ratelimit_shutdown();
	for (int i = 0; i < 3; i++) {
		free(tls_pem[i]);
		tls_pem[i] = NULL;
	}
}

