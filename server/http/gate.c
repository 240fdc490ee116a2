/*
 * gate.c - the checks of gate.h. Everything here runs on an MHD thread
 * before authentication, so it allocates nothing but route parameters
 * (from the request's arena) and never echoes the client's input.
 */
#include "http/gate.h"

#include "common/hex.h"
#include "http/route.h"

#include <string.h>
#include <strings.h>

/* The byte a "%XY" at s stands for, or -1 when s is no escape. */
static int escaped(const char *s)
{
	unsigned char b;

	if (s[0] != '%' || s[1] == '\0' || hex_decode(&b, s + 1, 1) != 0)
		return -1;
	return b;
}

/* A segment (len bytes at s) that is "." or ".." once %2e is decoded. */
static bool dot_segment(const char *s, size_t len)
{
	size_t dots = 0, i = 0;

	while (i < len) {
		if (s[i] == '.') {
			i++;
		} else if (i + 3 <= len && escaped(s + i) == '.') {
			i += 3;
		} else {
			return false;
		}
		dots++;
	}
	return dots == 1 || dots == 2;
}

const char gate_target_too_long[] = "the request target is longer than 8192 bytes";

const char *gate_target(const char *raw)
{
	const char *p, *seg;
	bool in_query = false;

	if (raw == NULL || raw[0] != '/')
		return "the request target must be an absolute path";
	if (strnlen(raw, GATE_MAX_TARGET + 1) > GATE_MAX_TARGET)
		return gate_target_too_long;
	seg = raw + 1;
	for (p = raw; *p; p++) {
		int c = escaped(p);
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return "the request target holds a space or a control character";
		if (c == 0)
			return "the request target holds an encoded NUL (%00)";
		if (in_query)
			continue;
		if (c == '/' || c == '\\')
			return "the path holds an encoded slash (%2F or %5C)";
		if (*p == '/' || *p == '?') {
			if (p > raw && dot_segment(seg, (size_t)(p - seg)))
				return "the path holds a dot segment (/./ or /../)";
			seg = p + 1;
			in_query = *p == '?';
		}
	}
	if (!in_query && dot_segment(seg, (size_t)(p - seg)))
		return "the path holds a dot segment (/./ or /../)";
	return NULL;
}

bool gate_header_name(const char *name, size_t len)
{
	static const char extra[] = "!#$%&'*+-.^_`|~";

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c != 0 && strchr(extra, c))))
			return false;
	}
	return true;
}

/* A field value may hold visible characters, spaces and tabs only. */
static bool value_ok(const char *v)
{
	for (; *v; v++)
		if (((unsigned char)*v < 0x20 && *v != '\t') || *v == 0x7f)
			return false;
	return true;
}

int gate_framing(const struct http_header_kv *h, size_t n, long long *body_len,
		 const char **why)
{
	const char *cl = NULL, *te = NULL;
	int ncl = 0, nte = 0;

	*body_len = 0;
	for (size_t i = 0; i < n; i++) {
		if (!gate_header_name(h[i].k, strlen(h[i].k))) {
			*why = "a header name is not a token (RFC 9110 5.1)";
			return -1;
		}
		if (!value_ok(h[i].v)) {
			*why = "a header value holds a control character";
			return -1;
		}
		if (strcasecmp(h[i].k, "Content-Length") == 0) {
			cl = h[i].v;
			ncl++;
		} else if (strcasecmp(h[i].k, "Transfer-Encoding") == 0) {
			te = h[i].v;
			nte++;
		}
	}
	if (ncl > 1) {
		*why = "more than one Content-Length";
		return -1;
	}
	if (nte && ncl) {
		*why = "Transfer-Encoding together with Content-Length";
		return -1;
	}
	if (nte > 1 || (te && strcasecmp(te, "chunked") != 0)) {
		*why = "Transfer-Encoding other than a single \"chunked\"";
		return -1;
	}
	if (te) {
		*body_len = GATE_CHUNKED;
		return 0;
	}
	if (cl) {
		size_t len = strlen(cl);
		long long v = 0;
		if (len == 0 || len > 15 || strspn(cl, "0123456789") != len) {
			*why = "Content-Length is not a decimal number";
			return -1;
		}
		for (size_t i = 0; i < len; i++)
			v = v * 10 + (cl[i] - '0');
		*body_len = v;
	}
	return 0;
}

const char *gate_credential(const char *h, int *only)
{
	static const struct {
		const char *scheme;
		size_t len;
		int roles;
	} schemes[] = {
		{"Bearer ", 7, ROLES_ANY},
		{"TargetToken ", 12, ROLE_DEVICE},
		{"GatewayToken ", 13, ROLE_INGEST | ROLE_ADMIN},
	};

	for (size_t i = 0; h && i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (strncasecmp(h, schemes[i].scheme, schemes[i].len) == 0 &&
		    h[schemes[i].len] != '\0') {
			*only = schemes[i].roles;
			return h + schemes[i].len;
		}
	return NULL;
}

int gate_authz(const struct route *rt, int role, int only)
{
	if ((role & only) == 0)
		return 401;
	if ((rt->roles & role) == 0)
		return 403;
	return 0;
}

enum gate_body gate_body_kind(const char *ct)
{
	if (ct == NULL || strncasecmp(ct, "application/json", 16) == 0)
		return GATE_BODY_JSON;
	if (strncasecmp(ct, "application/yaml", 16) == 0 || strncasecmp(ct, "text/yaml", 9) == 0 ||
	    strncasecmp(ct, "application/x-yaml", 18) == 0)
		return GATE_BODY_YAML;
	return GATE_BODY_OTHER;
}

static bool refuse(struct gate_verdict *v, int status, const char *field, const char *detail)
{
	v->status = status;
	v->field = field;
	v->detail = detail;
	return false;
}

bool gate_check(const struct route *table, struct req *r, const char *target_why,
		const struct http_header_kv *h, size_t n, struct gate_verdict *v)
{
	const char *why;
	size_t bytes = 0;
	bool known;

	memset(v, 0, sizeof(*v));
	if (target_why != NULL)
		return refuse(v, target_why == gate_target_too_long ? 414 : 400, NULL, target_why);
	for (size_t i = 0; i < n && i < GATE_MAX_HEADERS; i++)
		bytes += strlen(h[i].k) + strlen(h[i].v) + 4;
	if (n > GATE_MAX_HEADERS || bytes > GATE_MAX_HEADER_BYTES)
		return refuse(v, 431, NULL, "more than 100 header fields or 16384 bytes of them");
	if (gate_framing(h, n, &v->body_len, &why) != 0)
		return refuse(v, 400, NULL, why);
	r->route_index = http_route_find(table, r, &known);
	if (r->route_index < 0)
		return refuse(v, known ? 405 : 404, NULL,
			      known ? "method not allowed on this resource" : "no such resource");
	r->route = &table[r->route_index];
	return true;
}

bool gate_within_cap(const struct route *rt, long long body_len)
{
	return (rt->flags & ROUTE_STREAM_BODY) || body_len <= HTTP_MAX_BODY;
}
