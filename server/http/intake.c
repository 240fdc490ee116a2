/*
 * intake.c - a request from the end of its headers to the end of its
 * body, on an MHD thread: the gate (gate.h) and the token decide before a
 * body byte is read; a refusal goes out at once (closing the connection)
 * or after a small body read and dropped; an admitted body runs against
 * its deadline and minimum rate (conns.h) and is collected up to
 * HTTP_MAX_BODY, or streamed to its route.
 */
#include "http/intake.h"

#include "http/authz.h"
#include "http/conns.h"
#include "http/gate.h"
#include "http/reply.h"
#include "http/workers.h"

#include <string.h>
#include <strings.h>

/* A refused request: with no body, or a small one from a client not
 * waiting for "100 Continue", the answer goes out at the end (the body is
 * read and dropped, never stored) and the connection stays; otherwise at
 * once, and libmicrohttpd closes the connection after it. */
static enum MHD_Result refuse(struct req *r)
{
	const char *expect = http_header(r, "Expect");

	if (r->body_declared == 0)
		return MHD_YES;
	if (r->body_declared > 0 &&
	    r->body_declared <= (r->authorized ? HTTP_DRAIN_AUTHED_MAX : HTTP_DRAIN_MAX) &&
	    (expect == NULL || strcasecmp(expect, "100-continue") != 0)) {
		conns_body_begin(http_conn(r->conn), true);
		return MHD_YES;
	}
	r->queued = true;
	return http_reply_send(r);
}

/* Authorized (or public): the declared length against the route's cap, a
 * streamed upload's own check of its headers (on_chunk(r, NULL, 0)), then
 * the body may come, against its deadline. */
static enum MHD_Result admit(struct req *r)
{
	if (!gate_within_cap(r->route, r->body_declared)) {
		http_reply_problem(r, 413, NULL, "request body exceeds %d bytes", HTTP_MAX_BODY);
		return refuse(r);
	}
	if (r->authorized && (r->route->flags & ROUTE_STREAM_BODY))
		r->route->on_chunk(r, NULL, 0);
	if (r->replied)
		return refuse(r);
	if (r->body_declared != 0)
		conns_body_begin(http_conn(r->conn), !(r->route->flags & ROUTE_STREAM_BODY));
	return MHD_YES;
}

struct kv_list {
	struct http_header_kv h[GATE_MAX_HEADERS + 1];
	size_t n; /* may pass GATE_MAX_HEADERS + 1: counted, not kept */
};

static enum MHD_Result add_kv(void *cls, enum MHD_ValueKind kind, const char *k, const char *v)
{
	struct kv_list *l = cls;

	if (l->n <= GATE_MAX_HEADERS)
		l->h[l->n] = (struct http_header_kv){k, v ? v : ""};
	l->n++;
	return MHD_YES;
}

/* The headers are in, no body byte is read: target, framing, route,
 * declared length, then the token (gate.h). Anything refused here costs
 * the request's arena and libmicrohttpd's buffer, nothing more. */
enum MHD_Result intake_headers(struct req *r)
{
	struct kv_list hs = {.n = 0};
	struct gate_verdict v;

	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, add_kv, &hs);
	if (!gate_check(http_table(), r, conns_target_error(http_conn(r->conn)), hs.h,
			hs.n > GATE_MAX_HEADERS ? GATE_MAX_HEADERS + 1 : hs.n, &v)) {
		r->body_declared = v.body_len;
		if (v.status == 400 || v.status == 431)
			r->body_declared = GATE_CHUNKED; /* framing not to be trusted */
		http_reply_problem(r, v.status, v.field, "%s", v.detail);
		return refuse(r);
	}
	r->body_declared = v.body_len;
	if (r->route->roles == ROLES_PUBLIC)
		return admit(r);
	r->authorized = http_authorize(r);
	if (r->authorized || !r->defer)
		return r->authorized ? admit(r) : refuse(r);
	/* the token is not in memory: a worker asks the database, MHD calls
	 * again (still before the body) once it resumes the connection */
	r->defer = false;
	r->gating = true;
	MHD_suspend_connection(r->conn);
	if (http_workers_submit(r))
		return MHD_YES;
	MHD_resume_connection(r->conn);
	r->gating = false;
	http_reply_problem(r, 503, NULL, "server busy, retry shortly");
	return refuse(r);
}

/* A body chunk: streamed to its handler, dropped when the request is
 * refused already, else collected up to HTTP_MAX_BODY. */
enum MHD_Result intake_chunk(struct req *r, const char *upload, size_t n)
{
	conns_body_progress(http_conn(r->conn), n);
	if (r->replied)
		return MHD_YES;
	if (r->route->flags & ROUTE_STREAM_BODY) {
		r->route->on_chunk(r, upload, n);
		return MHD_YES;
	}
	if (r->body_too_big)
		return MHD_YES;
	if (r->body_len + n > HTTP_MAX_BODY) {
		r->body_too_big = true; /* chunked: no length to refuse at the gate */
		return MHD_YES;
	}
	if (r->body_len + n + 1 > r->body_cap) {
		size_t cap = r->body_cap ? r->body_cap * 2 : 4096;
		char *nb;
		while (cap < r->body_len + n + 1)
			cap *= 2;
		nb = arena_alloc(r->arena, cap);
		if (nb == NULL)
			return MHD_NO;
		if (r->body_len)
			memcpy(nb, r->body, r->body_len);
		r->body = nb;
		r->body_cap = cap;
	}
	memcpy(r->body + r->body_len, upload, n);
	r->body_len += n;
	r->body[r->body_len] = '\0';
	return MHD_YES;
}

enum MHD_Result intake_resumed(struct req *r)
{
	return r->authorized ? admit(r) : refuse(r);
}
