/*
 * gate.h - what a request must pass once its headers are in and before a
 * byte of its body is read: a well-formed target (no encoded NUL, encoded
 * slash or dot segment), unambiguous framing (one Content-Length, or
 * "Transfer-Encoding: chunked" alone, header names that are tokens), a
 * route, and (once authorized) a declared length within the route's cap.
 * Pure: values in,
 * a verdict out (the fuzz target drives it without a network).
 */
#ifndef RAMP_GATE_H
#define RAMP_GATE_H

#include "http/http.h"

#include <stdbool.h>
#include <stddef.h>

#define GATE_MAX_HEADERS 100
/* below libmicrohttpd's own limits (its 32 KiB buffer), which answer in
 * HTML: rampd answers these in problem+json first */
#define GATE_MAX_TARGET 8192
#define GATE_MAX_HEADER_BYTES 16384
extern const char gate_target_too_long[]; /* gate_target()'s 414 reason */
#define GATE_CHUNKED (-1LL)

struct gate_verdict {
	int status;            /* 0: passed; else the 4xx to answer */
	const char *field;     /* for the problem body, or NULL */
	const char *detail;    /* static text, never the client's input */
	long long body_len;    /* declared: 0 none, GATE_CHUNKED */
};

/* The request target as sent (before percent-decoding): NULL when fine,
 * else why it is refused (400). */
const char *gate_target(const char *raw);
/* True when name[0..len) is an RFC 9110 token (a valid header name). */
bool gate_header_name(const char *name, size_t len);
/* The framing the headers declare: 0 with *body_len set, or -1 with
 * *why set (400). */
int gate_framing(const struct http_header_kv *h, size_t n, long long *body_len,
		 const char **why);
/* The credential in an Authorization header value ("Bearer", "TargetToken",
 * "GatewayToken"); *only is the roles its scheme admits. NULL if none. */
const char *gate_credential(const char *h, int *only);
/* All of the above for r (method, path set; target_why is gate_target()
 * of the target as sent, which libmicrohttpd decodes before r sees it):
 * fills v, sets r->route and r->route_index when found; true when passed. */
bool gate_check(const struct route *table, struct req *r, const char *target_why,
		const struct http_header_kv *h, size_t n, struct gate_verdict *v);

/* The role decision for a looked-up credential: 0 when role (one ROLE_*
 * bit) may call rt with a credential of a scheme admitting only; 401 when
 * the scheme does not admit the role, 403 when the route does not. */
int gate_authz(const struct route *rt, int role, int only);

enum gate_body { GATE_BODY_JSON, GATE_BODY_YAML, GATE_BODY_OTHER };
/* What a Content-Type value (NULL: none, taken as JSON) declares. */
enum gate_body gate_body_kind(const char *ctype);

/* False when a declared body is over the route's cap (1 MiB; streamed
 * uploads check their own). */
bool gate_within_cap(const struct route *rt, long long body_len);

#endif
