/*
 * http.c - libmicrohttpd glue: route matching, body collection, auth,
 * replies and per-route figures.
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
 * tracked by http/conns.c (limit, header deadline, client certificate);
 * after auth, every token takes from its bucket (http/ratelimit.c).
 */
#include "http/http.h"

#include "auth/auth.h"
#include "common/log.h"
#include "snapshot/snapshot.h"
#include "http/conns.h"
#include "http/gate.h"
#include "http/intake.h"
#include "http/ratelimit.h"
#include "http/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define MAX_ROUTES 128
static const int status_codes[] = {200, 201, 202, 204, 206, 304, 400, 401, 403, 404,
				   405, 409, 413, 415, 416, 422, 429, 500, 503, 507};
#define NSTATUS (sizeof(status_codes) / sizeof(status_codes[0]))
static const double lat_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
				    0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
#define NLAT (sizeof(lat_bounds) / sizeof(lat_bounds[0]))

static atomic_ulong route_status[MAX_ROUTES + 1][NSTATUS + 1];
static atomic_ulong lat_counts[NLAT + 1];
static atomic_ulong lat_sum_us;
static atomic_ulong request_timeouts;
static struct MHD_Daemon *daemons_[2]; /* the listener, and the plain one if any */
static char *tls_pem[3];               /* certificate, key, client CA */
static struct app *app_;

/* the worker pool for requests that may block */
static pthread_mutex_t work_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t idle_cv = PTHREAD_COND_INITIALIZER;
static struct req **work_q;
static size_t work_cap, work_head, work_len, in_flight;
static bool work_stop;
static pthread_t *workers;
static int nworkers;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *http_query(struct req *r, const char *key)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *http_header(struct req *r, const char *key)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, key);
}

void http_add_header(struct req *r, const char *k, const char *v)
{
	if (r->nheaders < (int)(sizeof(r->headers) / sizeof(r->headers[0]))) {
		r->headers[r->nheaders].k = arena_strdup(r->arena, k);
		r->headers[r->nheaders].v = arena_strdup(r->arena, v);
		r->nheaders++;
	}
}

/* Set by http_park() on the thread running the handler: after a park the
 * request belongs to whoever will unpark it, and may be gone already. */
static __thread bool tls_parked;

void http_park(struct req *r)
{
	r->parked = true;
	tls_parked = true;
	/* a worker's request is suspended already; an inline one is not */
	if (!r->in_worker)
		MHD_suspend_connection(r->conn);
}

void http_unpark(struct req *r)
{
	MHD_resume_connection(r->conn);
}

void http_reply_text(struct req *r, int status, const char *ctype, char *body, size_t len)
{
	if (r->replied) {
		free(body);
		return;
	}
	r->replied = true;
	r->status = status;
	r->resp = body;
	r->resp_len = len;
	r->ctype = ctype;
}

void http_reply_json(struct req *r, int status, json_t *body)
{
	char *s = json_dumps(body, JSON_COMPACT);

	json_decref(body);
	if (s == NULL) {
		http_reply_text(r, 500, "text/plain", NULL, 0);
		return;
	}
	http_reply_text(r, status, "application/json", s, strlen(s));
}

void http_reply_empty(struct req *r, int status)
{
	http_reply_text(r, status, NULL, NULL, 0);
}

static const char *reason(int status)
{
	const char *s = MHD_get_reason_phrase_for((unsigned)status);
	return s && *s ? s : "Error";
}

void http_reply_problem(struct req *r, int status, const char *field,
			const char *fmt, ...)
{
	char detail[512];
	va_list ap;
	json_t *j;
	char *s;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	j = json_pack("{s:s, s:s, s:i, s:s}", "type", "about:blank", "title",
		      reason(status), "status", status, "detail", detail);
	if (j && field && *field)
		json_object_set_new(j, "field", json_string(field));
	s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (status == 503)
		http_add_header(r, "Retry-After", "1");
	http_reply_text(r, status, "application/problem+json", s, s ? strlen(s) : 0);
}

void http_reply_err(struct req *r, int code, const struct ramp_err *e)
{
	const char *field = e ? e->field : NULL;
	const char *msg = e && e->msg[0] ? e->msg : ramp_strerror(code);

	switch (code) {
	case RAMP_EINVAL:
		http_reply_problem(r, 422, field, "%s", msg);
		break;
	case RAMP_EMALFORMED:
		http_reply_problem(r, 400, field, "%s", msg);
		break;
	case RAMP_ENOTFOUND:
		http_reply_problem(r, 404, field, "%s", msg);
		break;
	case RAMP_ECONFLICT:
		http_reply_problem(r, 409, field, "%s", msg);
		break;
	case RAMP_ETOOBIG:
		http_reply_problem(r, 413, field, "%s", msg);
		break;
	case RAMP_EAUTH:
		http_reply_problem(r, 401, field, "%s", msg);
		break;
	case RAMP_EFORBIDDEN:
		http_reply_problem(r, 403, field, "%s", msg);
		break;
	case RAMP_EUNAVAIL:
		http_reply_problem(r, 503, NULL, "database unavailable, retry later");
		break;
	case RAMP_EBUSY:
		http_reply_problem(r, 503, NULL, "%s", msg);
		break;
	default:
		log_error("msg=\"request failed\" method=%s path=\"%s\" error=\"%s\" detail=\"%s\"",
			  r->method, r->path, ramp_strerror(code), msg);
		http_reply_problem(r, 500, NULL, "internal error");
		break;
	}
}

bool http_body_is_yaml(struct req *r)
{
	return gate_body_kind(http_header(r, "Content-Type")) == GATE_BODY_YAML;
}

bool http_check_ctype(struct req *r, bool yaml_ok)
{
	const char *ct = http_header(r, "Content-Type");
	enum gate_body kind = gate_body_kind(ct);

	if (kind == GATE_BODY_JSON || (yaml_ok && kind == GATE_BODY_YAML))
		return true;
	http_reply_problem(r, 415, "Content-Type",
			   "unsupported content type \"%.64s\"; send application/json%s", ct,
			   yaml_ok ? " or application/yaml" : "");
	return false;
}

json_t *http_json_body(struct req *r)
{
	json_error_t jerr;
	json_t *j;

	if (!http_check_ctype(r, false))
		return NULL;
	if (r->body_len == 0) {
		http_reply_problem(r, 400, NULL, "request body is empty; expected JSON");
		return NULL;
	}
	j = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (j == NULL)
		http_reply_problem(r, 400, NULL, "malformed JSON at line %d column %d: %s",
				   jerr.line, jerr.column, jerr.text);
	return j;
}

static void count(struct req *r, double dur)
{
	size_t si = NSTATUS, li = NLAT;
	int ri = r->route_index >= 0 ? r->route_index : MAX_ROUTES;

	for (size_t i = 0; i < NSTATUS; i++)
		if (status_codes[i] == r->status)
			si = i;
	for (size_t i = 0; i < NLAT; i++)
		if (dur <= lat_bounds[i]) {
			li = i;
			break;
		}
	atomic_fetch_add(&route_status[ri][si], 1);
	atomic_fetch_add(&lat_counts[li], 1);
	atomic_fetch_add(&lat_sum_us, (unsigned long)(dur * 1e6));
}

enum MHD_Result http_queue(struct req *r)
{
	struct MHD_Response *resp = r->mhd_response;
	enum MHD_Result ret;

	if (resp == NULL) {
		resp = MHD_create_response_from_buffer(r->resp_len, r->resp,
						       MHD_RESPMEM_MUST_FREE);
		if (resp == NULL) {
			free(r->resp);
			return MHD_NO;
		}
		r->resp = NULL;
		if (r->ctype)
			MHD_add_response_header(resp, "Content-Type", r->ctype);
	}
	for (int i = 0; i < r->nheaders; i++)
		MHD_add_response_header(resp, r->headers[i].k, r->headers[i].v);
	ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	r->mhd_response = NULL;
	return ret;
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

static void set_auth(struct req *r, int role, const char *prefix, const char *id)
{
	r->auth.role = role;
	r->auth.device_id = arena_strdup(r->arena, id);
	r->auth.name = arena_printf(r->arena, "%s:%s", prefix, id);
}

/* A certificate may name a device that is not registered (any more): it logs
 * in only when the device is in the snapshot. A missing one brings the
 * snapshot up to date at most once a second, so certificates of deleted
 * devices cannot make every poll rebuild it. */
static bool cert_device_known(struct app *app, const char *id)
{
	static atomic_llong last_refresh_ms;
	struct snapshot *s = snapshot_acquire();
	bool known = s == NULL || snapshot_has_device(s, id); /* no snapshot: 503 below */
	uint64_t gen = snapshot_started();
	long long now = (long long)(now_s() * 1000), prev = atomic_load(&last_refresh_ms);

	snapshot_release(s);
	if (known || now - prev < 1000 ||
	    !atomic_compare_exchange_strong(&last_refresh_ms, &prev, now))
		return known;
	snapshot_refresh_if(app, gen);
	s = snapshot_acquire();
	known = s == NULL || snapshot_has_device(s, id);
	snapshot_release(s);
	return known;
}

/* No bearer token: a client certificate from RAMP_TLS_CLIENT_CA may stand in
 * for a device token (RAMP_DEVICE_AUTH=cert) or an enroll token (the
 * attested-device path). Replies and returns false when it cannot. */
static bool cert_login(struct req *r, const struct tls_peer *peer)
{
	const char *id = tls_peer_id(peer);
	int mode = r->app->cfg.device_auth;

	if (id && (r->route->roles & ROLE_DEVICE) && mode == CONFIG_DEVICE_AUTH_CERT) {
		if (!cert_device_known(r->app, id)) {
			http_reply_problem(r, 403, "certificate",
					   "the client certificate names device %s, which is not registered",
					   id);
			return false;
		}
		set_auth(r, ROLE_DEVICE, "device", id);
		return true;
	}
	if (id && (r->route->flags & ROUTE_CERT_ENROLL)) {
		set_auth(r, ROLE_ENROLL, "cert", id);
		return true;
	}
	http_add_header(r, "WWW-Authenticate", "Bearer");
	if (peer->state == TLS_PEER_UNTRUSTED)
		http_reply_problem(r, 401, "certificate",
				   "client certificate not issued by the configured CA, or out of date");
	else if (id && mode == CONFIG_DEVICE_AUTH_BOTH && (r->route->roles & ROLE_DEVICE))
		http_reply_problem(r, 401, "Authorization",
				   "missing bearer token: devices need their token and their certificate");
	else
		http_reply_problem(r, 401, "Authorization", "missing bearer token");
	return false;
}

/* A device token under RAMP_DEVICE_AUTH=cert|both must come with a
 * certificate for the same device: none is 401, another device's is 403. */
static bool device_cert_check(struct req *r, const struct tls_peer *peer)
{
	if (r->app->cfg.device_auth == CONFIG_DEVICE_AUTH_TOKEN)
		return true;
	if (peer->state != TLS_PEER_VALID) {
		http_reply_problem(r, 401, "certificate",
				   peer->state == TLS_PEER_UNTRUSTED
					   ? "client certificate not issued by the configured CA, or out of date"
					   : "devices must present their client certificate");
		return false;
	}
	if (!tls_peer_names(peer, r->auth.device_id)) {
		http_reply_problem(r, 403, "certificate",
				   "client certificate is for device %s, not %s", tls_peer_id(peer),
				   r->auth.device_id);
		return false;
	}
	return true;
}

/* 429 with Retry-After when the token's bucket is empty. */
static bool rate_check(struct req *r)
{
	int role = __builtin_ctz((unsigned)r->auth.role);
	int wait = ratelimit_take(role, r->auth.name, (int64_t)(r->started * 1e9));
	char ra[16];

	if (wait == 0)
		return true;
	snprintf(ra, sizeof(ra), "%d", wait);
	http_add_header(r, "Retry-After", ra);
	http_reply_problem(r, 429, NULL, "rate limit for role %s exceeded (%g requests/s); retry in %d s",
			   auth_role_name(r->auth.role), ratelimit_setting(role).per_s, wait);
	return false;
}

/* Bearer token or client certificate -> r->auth, then the role and the
 * rate limit; replies 401/403/429/503 and returns false when denied. */
bool http_authorize(struct req *r)
{
	const struct tls_peer *peer;
	const char *h, *tok;
	int rc, only = ROLES_ANY;

	if (r->route->roles == ROLES_PUBLIC)
		return true;
	peer = http_peer(r);
	h = http_header(r, "Authorization");
	if ((tok = gate_credential(h, &only)) == NULL) {
		if (!cert_login(r, peer))
			return false;
	} else {
		/* on an MHD thread only what memory knows; a worker asks the database */
		rc = auth_lookup_in(r->app, tok, r->arena, &r->auth, r->in_worker);
		if (rc == RAMP_EBUSY && http_defer(r))
			return false;
		if (rc == RAMP_EAUTH) {
			http_add_header(r, "WWW-Authenticate", "Bearer");
			http_reply_problem(r, 401, "Authorization", "unknown, expired or revoked token");
			return false;
		}
		if (rc != 0) {
			http_reply_err(r, rc, NULL);
			return false;
		}
		if (gate_authz(r->route, r->auth.role, only) == 401) {
			http_add_header(r, "WWW-Authenticate", "Bearer");
			http_reply_problem(r, 401, "Authorization", "%s",
					   only == ROLE_DEVICE
						   ? "a TargetToken must be a device token"
						   : "a GatewayToken must be an ingest or admin token");
			return false;
		}
		if (r->auth.role == ROLE_DEVICE && !device_cert_check(r, peer))
			return false;
	}
	if (gate_authz(r->route, r->auth.role, ROLES_ANY) == 403) {
		http_reply_problem(r, 403, NULL, "role %s may not %s %s",
				   auth_role_name(r->auth.role), r->method, r->route->pattern);
		return false;
	}
	return rate_check(r);
}

/* Runs the request's handler; true when the handler parked it. The gate
 * found the route and authorized the request when its headers came in. */
static bool dispatch(struct req *r)
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

static void *worker_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct MHD_Connection *conn;
		struct req *r;
		pthread_mutex_lock(&work_mu);
		while (work_len == 0 && !work_stop)
			pthread_cond_wait(&work_cv, &work_mu);
		if (work_len == 0 && work_stop) {
			pthread_mutex_unlock(&work_mu);
			return NULL;
		}
		r = work_q[work_head];
		work_head = (work_head + 1) % work_cap;
		work_len--;
		pthread_mutex_unlock(&work_mu);
		conn = r->conn;
		r->in_worker = true;
		r->defer = false;
		if (r->gating) {
			/* the token is not in memory: the database decides, then the
			 * gate goes on on the MHD thread (on_request) */
			r->authorized = http_authorize(r);
			r->in_worker = false;
			MHD_resume_connection(conn);
		} else if (!dispatch(r)) {
			MHD_resume_connection(conn); /* parked ones are resumed by http_unpark */
		}
		pthread_mutex_lock(&work_mu);
		if (--in_flight == 0)
			pthread_cond_broadcast(&idle_cv);
		pthread_mutex_unlock(&work_mu);
	}
}

/* Hands r to a worker; false when the queue is full (the caller answers 503). */
bool http_enqueue(struct req *r)
{
	bool ok = false;

	pthread_mutex_lock(&work_mu);
	if (work_len < work_cap && !work_stop) {
		work_q[(work_head + work_len) % work_cap] = r;
		work_len++;
		in_flight++;
		ok = true;
		pthread_cond_signal(&work_cv);
	}
	pthread_mutex_unlock(&work_mu);
	return ok;
}

bool http_defer(struct req *r)
{
	if (r->in_worker)
		return false;
	r->defer = true;
	return true;
}

/* Suspends r and hands it to a worker; MHD calls us again once resumed. */
static enum MHD_Result run_on_worker(struct MHD_Connection *conn, struct req *r)
{
	MHD_suspend_connection(conn);
	if (http_enqueue(r))
		return MHD_YES;
	MHD_resume_connection(conn);
	http_reply_problem(r, 503, NULL, "server busy, retry shortly");
	return http_queue(r);
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
		r->started = now_s();
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
		return http_queue(r);
	if (r->route && !(r->route->flags & ROUTE_INLINE) && !r->body_too_big)
		return run_on_worker(conn, r);
	if (dispatch(r))
		return MHD_YES; /* parked: suspended until http_unpark() */
	if (r->defer && !r->replied)
		return run_on_worker(conn, r);
	return http_queue(r);
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
		atomic_fetch_add(&request_timeouts, 1);
	dur = now_s() - r->started;
	if (!(r->route && (r->route->flags & ROUTE_NO_METRICS)))
		count(r, dur);
	if (r->app->cfg.access_log || r->status >= 500)
		log_info("msg=request method=%s path=\"%s\" status=%d dur_ms=%.2f actor=%s",
			 r->method, r->path, r->status, dur * 1000,
			 r->auth.name ? r->auth.name : "-");
	if (r->cleanup)
		r->cleanup(r);
	free(r->resp);
	if (r->mhd_response)
		MHD_destroy_response(r->mhd_response);
	arena_free(r->arena);
	*con_cls = NULL;
}

static int workers_start(int n)
{
	work_cap = 4096;
	work_q = calloc(work_cap, sizeof(*work_q));
	workers = calloc((size_t)n, sizeof(*workers));
	if (work_q == NULL || workers == NULL)
		return -1;
	for (nworkers = 0; nworkers < n; nworkers++)
		if (pthread_create(&workers[nworkers], NULL, worker_main, NULL) != 0)
			return -1;
	return 0;
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

/* Reads RAMP_TLS_CERT, RAMP_TLS_KEY and RAMP_TLS_CLIENT_CA; 0 or -1 (logged). */
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
			return -1;
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
 * listen. No SO_REUSEPORT: a port in use is an error, not a shared port. */
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

int http_start(struct app *app, const char *host, int port, int threads)
{
	const struct config *cfg = &app->cfg;

	if (workers_start(cfg->workers) != 0) {
		log_error("msg=\"could not start worker threads\"");
		return -1;
	}
	app_ = app;
	ratelimit_init(cfg->rate);
	if (load_tls(cfg) != 0 || conns_start(cfg->max_connections, cfg->header_timeout_s, cfg->body_timeout_s,
						 cfg->body_min_rate) != 0)
		return -1;
	daemons_[0] = start_daemon(app, host, port, threads, tls_pem[0] != NULL);
	if (daemons_[0] == NULL)
		return -1;
	if (cfg->plain_port) {
		daemons_[1] = start_daemon(app, cfg->plain_host, cfg->plain_port, 1, false);
		if (daemons_[1] == NULL)
			return -1;
	}
	return 0;
}

void http_stop(void)
{
	/* suspended connections must be resumed before the daemon stops */
	pthread_mutex_lock(&work_mu);
	while (in_flight > 0)
		pthread_cond_wait(&idle_cv, &work_mu);
	work_stop = true;
	pthread_cond_broadcast(&work_cv);
	pthread_mutex_unlock(&work_mu);
	for (int i = 0; i < 2; i++) {
		if (daemons_[i])
			MHD_stop_daemon(daemons_[i]);
		daemons_[i] = NULL;
	}
	for (int i = 0; i < nworkers; i++)
		pthread_join(workers[i], NULL);
	free(workers);
	free(work_q);
	workers = NULL;
	work_q = NULL;
	nworkers = 0;
	conns_stop();
	ratelimit_shutdown();
	for (int i = 0; i < 3; i++) {
		free(tls_pem[i]);
		tls_pem[i] = NULL;
	}
}

static void buf_printf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void buf_printf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < *cap - *len) {
			*len += (size_t)n;
			return;
		}
		{
			char *nb = realloc(*buf, *cap * 2 + (size_t)n);
			if (nb == NULL)
				return;
			*buf = nb;
			*cap = *cap * 2 + (size_t)n;
		}
	}
}

char *http_metrics_text(struct arena *a)
{
	size_t len = 0, cap = 16384;
	char *buf = malloc(cap), *out;
	unsigned long cum = 0;

	if (buf == NULL)
		return NULL;
	buf[0] = '\0';
	buf_printf(&buf, &len, &cap,
		   "# HELP ramp_http_requests_total HTTP requests answered, by route and status.\n"
		   "# TYPE ramp_http_requests_total counter\n");
	for (int i = 0; http_routes[i].method && i < MAX_ROUTES; i++)
		for (size_t s = 0; s <= NSTATUS; s++) {
			unsigned long v = atomic_load(&route_status[i][s]);
			if (v)
				buf_printf(&buf, &len, &cap,
					   "ramp_http_requests_total{method=\"%s\",route=\"%s\",code=\"%d\"} %lu\n",
					   http_routes[i].method, http_routes[i].pattern,
					   s < NSTATUS ? status_codes[s] : 0, v);
		}
	buf_printf(&buf, &len, &cap,
		   "# HELP ramp_http_request_duration_seconds Time from request to response.\n"
		   "# TYPE ramp_http_request_duration_seconds histogram\n");
	for (size_t i = 0; i <= NLAT; i++) {
		cum += atomic_load(&lat_counts[i]);
		if (i < NLAT)
			buf_printf(&buf, &len, &cap,
				   "ramp_http_request_duration_seconds_bucket{le=\"%g\"} %lu\n",
				   lat_bounds[i], cum);
		else
			buf_printf(&buf, &len, &cap,
				   "ramp_http_request_duration_seconds_bucket{le=\"+Inf\"} %lu\n", cum);
	}
	buf_printf(&buf, &len, &cap,
		   "ramp_http_request_duration_seconds_sum %.6f\n"
		   "ramp_http_request_duration_seconds_count %lu\n",
		   (double)atomic_load(&lat_sum_us) / 1e6, cum);
	out = arena_strndup(a, buf, len);
	free(buf);
	return out;
}

char *http_limits_metrics_text(struct arena *a)
{
	static const char *const roles[RATELIMIT_ROLES] = {"admin", "operator", "viewer", "ci",
							   "enroll", "ingest", "device"};
	struct conns_stats cs;
	uint64_t refused[RATELIMIT_ROLES];
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap), *out;

	if (buf == NULL)
		return NULL;
	buf[0] = '\0';
	conns_stats(&cs);
	ratelimit_refused(refused);
	buf_printf(&buf, &len, &cap,
		   "# HELP ramp_http_connections_open Client connections open now.\n"
		   "# TYPE ramp_http_connections_open gauge\n"
		   "ramp_http_connections_open %llu\n"
		   "# HELP ramp_http_connections_max Connections allowed at once (RAMP_MAX_CONNECTIONS).\n"
		   "# TYPE ramp_http_connections_max gauge\n"
		   "ramp_http_connections_max %d\n"
		   "# HELP ramp_http_connections_total Client connections accepted.\n"
		   "# TYPE ramp_http_connections_total counter\n"
		   "ramp_http_connections_total %llu\n"
		   "# HELP ramp_http_connections_refused_total Connections refused at the limit.\n"
		   "# TYPE ramp_http_connections_refused_total counter\n"
		   "ramp_http_connections_refused_total %llu\n"
		   "# HELP ramp_http_header_timeout_seconds Time a client has for a request's headers (RAMP_HEADER_TIMEOUT).\n"
		   "# TYPE ramp_http_header_timeout_seconds gauge\n"
		   "ramp_http_header_timeout_seconds %d\n"
		   "# HELP ramp_http_header_timeouts_total Connections cut off for headers (or a TLS handshake) overdue.\n"
		   "# TYPE ramp_http_header_timeouts_total counter\n"
		   "ramp_http_header_timeouts_total %llu\n"
		   "# HELP ramp_http_idle_timeout_seconds Silence after which a connection is closed (RAMP_CONN_TIMEOUT).\n"
		   "# TYPE ramp_http_idle_timeout_seconds gauge\n"
		   "ramp_http_idle_timeout_seconds %d\n"
		   "# HELP ramp_http_request_timeouts_total Requests ended by the idle timeout mid-way.\n"
		   "# TYPE ramp_http_request_timeouts_total counter\n"
		   "ramp_http_request_timeouts_total %lu\n"
		   "# HELP ramp_tls_enabled Whether RAMP_LISTEN serves HTTPS.\n"
		   "# TYPE ramp_tls_enabled gauge\n"
		   "ramp_tls_enabled %d\n"
		   "# HELP ramp_tls_client_certs_total Client certificates seen, by verification result.\n"
		   "# TYPE ramp_tls_client_certs_total counter\n"
		   "ramp_tls_client_certs_total{result=\"valid\"} %llu\n"
		   "ramp_tls_client_certs_total{result=\"untrusted\"} %llu\n",
		   (unsigned long long)cs.open, cs.max_connections, (unsigned long long)cs.total,
		   (unsigned long long)cs.refused, cs.header_timeout_s,
		   (unsigned long long)cs.header_timeouts, app_ ? app_->cfg.conn_timeout_s : 0,
		   atomic_load(&request_timeouts), tls_pem[0] != NULL,
		   (unsigned long long)cs.certs_valid, (unsigned long long)cs.certs_untrusted);
	buf_printf(&buf, &len, &cap,
		   "# HELP ramp_rate_limit_per_second Requests per second each token of a role may make (0: unlimited).\n"
		   "# TYPE ramp_rate_limit_per_second gauge\n");
	for (int i = 0; i < RATELIMIT_ROLES; i++)
		buf_printf(&buf, &len, &cap, "ramp_rate_limit_per_second{role=\"%s\"} %g\n", roles[i],
			   ratelimit_setting(i).per_s);
	buf_printf(&buf, &len, &cap,
		   "# HELP ramp_rate_limit_burst Requests a token of a role may make at once.\n"
		   "# TYPE ramp_rate_limit_burst gauge\n");
	for (int i = 0; i < RATELIMIT_ROLES; i++)
		buf_printf(&buf, &len, &cap, "ramp_rate_limit_burst{role=\"%s\"} %g\n", roles[i],
			   ratelimit_setting(i).burst);
	buf_printf(&buf, &len, &cap,
		   "# HELP ramp_rate_limited_total Requests refused with 429, by role.\n"
		   "# TYPE ramp_rate_limited_total counter\n");
	for (int i = 0; i < RATELIMIT_ROLES; i++)
		buf_printf(&buf, &len, &cap, "ramp_rate_limited_total{role=\"%s\"} %llu\n", roles[i],
			   (unsigned long long)refused[i]);
	buf_printf(&buf, &len, &cap,
		   "# HELP ramp_http_body_timeout_seconds Time a request has for its body (RAMP_BODY_TIMEOUT).\n"
		   "# TYPE ramp_http_body_timeout_seconds gauge\n"
		   "ramp_http_body_timeout_seconds %d\n"
		   "# HELP ramp_http_body_min_rate_bytes Bytes a second a body must keep up (RAMP_BODY_MIN_RATE).\n"
		   "# TYPE ramp_http_body_min_rate_bytes gauge\n"
		   "ramp_http_body_min_rate_bytes %d\n"
		   "# HELP ramp_http_body_timeouts_total Connections cut off for a body overdue or too slow.\n"
		   "# TYPE ramp_http_body_timeouts_total counter\n"
		   "ramp_http_body_timeouts_total %llu\n",
		   cs.body_timeout_s, cs.body_min_rate, (unsigned long long)cs.body_timeouts);
	out = arena_strndup(a, buf, len);
	free(buf);
	return out;
}
