/*
 * reply.c - what a handler reads of its request beyond the body (query,
 * headers, the body as JSON) and every reply it may give: JSON, text,
 * empty, RFC 7807 problem+json, a RAMP_E* code mapped onto a status; then
 * http_reply_send() hands the reply to libmicrohttpd. Runs on whichever
 * thread runs the handler: an MHD thread (inline routes), a worker, or the
 * thread that unparks a request. Only r is touched, never shared state.
 */
#include "http/reply.h"

#include "common/log.h"
#include "http/gate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* The problem+json reply: type, title, status, detail, then field when
 * given and extra's members (extra is taken; NULL for none). */
static void reply_problemv(struct req *r, int status, const char *field, json_t *extra,
			   const char *fmt, va_list ap)
{
	char detail[512];
	json_t *j;
	char *s;

	vsnprintf(detail, sizeof(detail), fmt, ap);
	j = json_pack("{s:s, s:s, s:i, s:s}", "type", "about:blank", "title",
		      reason(status), "status", status, "detail", detail);
	if (j && field && *field)
		json_object_set_new(j, "field", json_string(field));
	if (j && json_is_object(extra))
		json_object_update_missing(j, extra);
	json_decref(extra);
	s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (status == 503)
		http_add_header(r, "Retry-After", "1");
	http_reply_text(r, status, "application/problem+json", s, s ? strlen(s) : 0);
}

void http_reply_problem(struct req *r, int status, const char *field, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply_problemv(r, status, field, NULL, fmt, ap);
	va_end(ap);
}

void http_reply_problem_with(struct req *r, int status, const char *field, json_t *extra,
			     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply_problemv(r, status, field, extra, fmt, ap);
	va_end(ap);
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
	if (j != NULL)
		return j;
	/* out of memory is the server's fault, not the body's (jansson leaves
	 * the text empty when it cannot allocate its lexer) */
	if (json_error_code(&jerr) == json_error_out_of_memory || jerr.text[0] == '\0')
		http_reply_problem(r, 503, NULL, "out of memory reading the request body");
	else
		http_reply_problem(r, 400, NULL, "malformed JSON at line %d column %d: %s",
				   jerr.line, jerr.column, jerr.text);
	return NULL;
}

enum MHD_Result http_reply_send(struct req *r)
{
	struct MHD_Response *resp = r->mhd_response;
	enum MHD_Result ret;

	if (resp == NULL) {
		resp = MHD_create_response_from_buffer(r->resp_len, r->resp,
						       MHD_RESPMEM_MUST_FREE);
		if (resp == NULL) {
			free(r->resp);
			r->resp = NULL; /* on_completed frees what is left */
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

