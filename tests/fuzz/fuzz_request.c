/*
 * fuzz_request.c - libFuzzer target over rampd's request path without a
 * network: raw request bytes (request line, headers, body) are split the
 * way libmicrohttpd hands them over (the target as sent to the URI hook,
 * the path percent-decoded, headers as name/value pairs), then go through
 * the gate (target, framing, size limits, the real route table), the
 * credential and role decision, the declared length against the cap, the
 * content type, and the body into the parser of the handler the route
 * names (policy, manifest, telemetry, DDI feedback, selector, or JSON).
 * It stops where a handler would reach the store. Invariants: every
 * refusal is a 4xx with a detail that is static text; a request that
 * passes has a route and no %00, encoded slash or dot segment.
 */
#include "api/api.h"
#include "domain/ddi.h"
#include "domain/manifest.h"
#include "domain/policy.h"
#include "domain/selector.h"
#include "domain/telemetry.h"
#include "http/gate.h"

#include <ctype.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What libmicrohttpd does to the path before the access handler sees it. */
static char *decode(struct arena *a, const char *s, size_t len)
{
	char *out = arena_alloc(a, len + 1), *o = out;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%' && i + 2 < len && isxdigit((unsigned char)s[i + 1]) &&
		    isxdigit((unsigned char)s[i + 2])) {
			char hex[3] = {s[i + 1], s[i + 2], 0};
			*o++ = (char)strtol(hex, NULL, 16);
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out; /* a decoded NUL ends the string, as it did in MHD */
}

static void check_refusal(const struct gate_verdict *v)
{
	if (v->status < 400 || v->status > 431 || v->detail == NULL || v->detail[0] == '\0')
		abort();
}

static void parse_body(const struct route *rt, const char *ctype, const char *body, size_t len)
{
	static struct policy p; /* large: off the stack */
	enum gate_body kind = gate_body_kind(ctype);
	struct ramp_err err;
	json_t *j;

	if (kind == GATE_BODY_OTHER)
		return; /* 415 */
	if (strcmp(rt->pattern, "/v1/policies/{}") == 0) {
		if (policy_parse(body, len, kind == GATE_BODY_YAML ? POLICY_YAML : POLICY_JSON, &p,
				 &err) != 0 && err.msg[0] == '\0')
			abort();
		return;
	}
	if (strcmp(rt->pattern, "/v1/manifests") == 0) {
		struct manifest m;
		if (manifest_parse(body, len, &m, &err) != 0 && err.msg[0] == '\0')
			abort();
		return;
	}
	j = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	if (j == NULL)
		return; /* 400 */
	if (strcmp(rt->pattern, "/v1/telemetry") == 0) {
		struct telemetry_report tr;
		if (json_is_object(j))
			(void)telemetry_parse(j, 1767000100.0, &tr, &err);
	} else if (strstr(rt->pattern, "/feedback")) {
		struct ddi_feedback f;
		if (ddi_feedback_parse(j, &f, &err) != 0 && err.msg[0] == '\0')
			abort();
	} else if (strcmp(rt->pattern, "/v1/cohorts/{}") == 0) {
		const char *text = json_string_value(json_object_get(j, "selector"));
		struct selector *s = NULL;
		if (text && selector_parse(text, &s, &err) == 0)
			selector_free(s);
	}
	json_decref(j);
}

/* The role a token stands for here: the store is out of reach, so the
 * token's first byte picks one (or none: unknown token, 401). */
static int role_of(const char *tok)
{
	int i = (unsigned char)tok[0] % 8;

	return i == 7 ? 0 : 1 << i;
}

static void request(struct arena *a, const char *req, size_t len)
{
	const char *end = req + len, *line = req, *nl, *body;
	struct http_header_kv h[GATE_MAX_HEADERS + 2];
	size_t n = 0;
	char *method, *target, *sp, *q;
	const char *auth = NULL, *ctype = NULL, *tok;
	struct gate_verdict v;
	struct req *r;
	int only = ROLES_ANY, role, st;

	if ((nl = memchr(line, '\n', len)) == NULL)
		return;
	method = arena_strndup(a, line, (size_t)(nl - line));
	if ((sp = strchr(method, ' ')) == NULL)
		return;
	*sp = '\0';
	target = sp + 1;
	if ((sp = strrchr(target, ' ')) != NULL)
		*sp = '\0';
	for (line = nl + 1; line < end; line = nl + 1) {
		char *kv, *colon;
		if ((nl = memchr(line, '\n', (size_t)(end - line))) == NULL)
			nl = end;
		if (nl == line || (nl == line + 1 && line[0] == '\r')) {
			line = nl + 1;
			break;
		}
		kv = arena_strndup(a, line, (size_t)(nl - line - (nl[-1] == '\r')));
		if ((colon = strchr(kv, ':')) == NULL || n > GATE_MAX_HEADERS)
			continue;
		*colon = '\0';
		h[n].k = kv;
		h[n].v = colon + 1 + strspn(colon + 1, " \t");
		if (strcasecmp(kv, "Authorization") == 0)
			auth = h[n].v;
		else if (strcasecmp(kv, "Content-Type") == 0)
			ctype = h[n].v;
		n++;
	}
	body = line < end ? line : end;
	r = arena_calloc(a, 1, sizeof(*r));
	r->arena = a;
	r->method = method;
	q = strchr(target, '?');
	r->path = decode(a, target, q ? (size_t)(q - target) : strlen(target));
	if (!gate_check(api_routes, r, gate_target(target), h, n, &v)) {
		check_refusal(&v);
		return;
	}
	if (r->route == NULL || r->nparams > HTTP_MAX_PARAMS || strstr(target, "%00") ||
	    strstr(r->path, "/../") || strstr(r->path, "/./"))
		abort();
	if (r->route->roles != ROLES_PUBLIC) {
		if ((tok = gate_credential(auth, &only)) == NULL)
			return; /* 401 (or a client certificate) */
		if ((role = role_of(tok)) == 0)
			return; /* 401 */
		st = gate_authz(r->route, role, only);
		if (st != 0 && st != 401 && st != 403)
			abort();
		if (st)
			return;
	}
	if (!gate_within_cap(r->route, v.body_len))
		return; /* 413 */
	if (r->route->flags & ROUTE_STREAM_BODY)
		return; /* the artifact store */
	if (v.body_len > 0 && (size_t)v.body_len < (size_t)(end - body))
		end = body + v.body_len;
	parse_body(r->route, ctype, body, (size_t)(end - body));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena *a = arena_new();

	if (a == NULL)
		return 0;
	request(a, (const char *)data, size);
	arena_free(a);
	return 0;
}
