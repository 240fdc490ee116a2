/*
 * ctl.c - libcurl glue for the controller API (ctl.h).
 *
 * Bodies are read into a bounded buffer (CTL_MAX_BODY); a bigger answer is an
 * error, not an allocation.  Timeouts are short: the agent's loop retries on
 * its next tick, so no call blocks it for long.
 */
#include "ctl.h"

#include "common/buf.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends a chunk of the answer; a bigger answer than CTL_MAX_BODY (the
 * buffer's cap) or one that cannot be held stops the transfer. */
static size_t on_body(char *data, size_t size, size_t n, void *cls)
{
	return buf_append(cls, data, size * n) == 0 ? size * n : 0;
}

/* Captures the ETag response header into cls (char[128]). */
static size_t on_header(char *data, size_t size, size_t n, void *cls)
{
	size_t len = size * n;
	char *etag = cls;

	if (len > 5 && strncasecmp(data, "ETag:", 5) == 0) {
		size_t i = 5, j;
		while (i < len && (data[i] == ' ' || data[i] == '\t'))
			i++;
		j = len;
		while (j > i && (data[j - 1] == '\r' || data[j - 1] == '\n' || data[j - 1] == ' '))
			j--;
		if (j - i < 128) {
			memcpy(etag, data + i, j - i);
			etag[j - i] = 0;
		}
	}
	return len;
}

static int on_progress(void *cls, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	const struct ctl *c = cls;
	return c->cancel && *c->cancel;
}

int ctl_init(struct ctl *c, const char *base, const char *token, const char *agent_version,
	     struct ramp_err *err)
{
	size_t n = strlen(base);

	memset(c, 0, sizeof(*c));
	while (n > 0 && base[n - 1] == '/')
		n--;
	if (n >= sizeof(c->base) || (strncmp(base, "http://", 7) && strncmp(base, "https://", 8)))
		return ramp_err_set(err, RAMP_EINVAL, "controller",
				    "controller must be an http:// or https:// URL");
	if (strlen(token) >= sizeof(c->token))
		return ramp_err_set(err, RAMP_EINVAL, "token", "token is too long");
	memcpy(c->base, base, n);
	snprintf(c->token, sizeof(c->token), "%s", token);
	snprintf(c->agent_version, sizeof(c->agent_version), "%s", agent_version);
	if ((c->curl = curl_easy_init()) == NULL)
		return ramp_err_set(err, RAMP_ENOMEM, "", "out of memory");
	return 0;
}

void ctl_set_tls(struct ctl *c, const char *cert, const char *key, const char *ca)
{
	snprintf(c->cert, sizeof(c->cert), "%s", cert);
	snprintf(c->key, sizeof(c->key), "%s", key);
	snprintf(c->ca, sizeof(c->ca), "%s", ca);
}

void ctl_apply_tls(const struct ctl *c, void *curl, int with_cert)
{
	CURL *h = curl;

	if (c->ca[0])
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca);
	if (with_cert && c->cert[0]) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, c->cert);
		curl_easy_setopt(h, CURLOPT_SSLKEY, c->key);
	}
}

void ctl_free(struct ctl *c)
{
	if (c->curl)
		curl_easy_cleanup(c->curl);
	c->curl = NULL;
}

/* Runs one request on c's handle; the HTTP status or RAMP_EIO. */
static int perform(struct ctl *c, const char *path, const char *method, const char *body,
		   struct curl_slist *hdrs, struct buf *out, char *etag, struct ramp_err *err)
{
	CURL *h = c->curl;
	char url[1024], auth[300], ua[96];
	long code = 0;
	CURLcode cc;

	snprintf(url, sizeof(url), "%s%s", c->base, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->token);
	snprintf(ua, sizeof(ua), "X-Agent-Version: %s", c->agent_version);
	if (c->token[0])
		hdrs = curl_slist_append(hdrs, auth);
	hdrs = curl_slist_append(hdrs, ua);
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
	ctl_apply_tls(c, h, 1);
	if (etag) {
		curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(h, CURLOPT_HEADERDATA, etag);
	}
	if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	cc = curl_easy_perform(h);
	curl_slist_free_all(hdrs);
	if (cc != CURLE_OK)
		return ramp_err_set(err, RAMP_EIO, "controller", "%s%s: %s", c->base, path,
				    buf_failed(out) ? "answer too large" : curl_easy_strerror(cc));
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	return (int)code;
}

int ctl_desired(struct ctl *c, char etag[128], char **body, size_t *len, struct ramp_err *err)
{
	struct curl_slist *hdrs = NULL;
	struct buf b = {.max = CTL_MAX_BODY};
	char inm[160], got[128] = "";
	int st;

	*body = NULL;
	*len = 0;
	if (etag[0]) {
		snprintf(inm, sizeof(inm), "If-None-Match: %s", etag);
		hdrs = curl_slist_append(hdrs, inm);
	}
	st = perform(c, "/v1/agent/desired", "GET", NULL, hdrs, &b, got, err);
	if (st == 200 && b.p) {
		*body = b.p;
		*len = b.len;
		snprintf(etag, 128, "%s", got);
		return st;
	}
	if (st > 0 && st != 304)
		ramp_err_set(err, RAMP_EIO, "controller", "desired answered %d: %.200s", st,
			     b.p ? b.p : "");
	free(b.p);
	return st == 200 ? RAMP_EIO : st;
}

int ctl_post_answer(struct ctl *c, const char *path, const json_t *body, json_t **answer,
		    struct ramp_err *err)
{
	struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	struct buf b = {.max = CTL_MAX_BODY};
	char *text = json_dumps(body, JSON_COMPACT);
	int st;

	if (answer)
		*answer = NULL;
	if (text == NULL) {
		curl_slist_free_all(hdrs);
		return ramp_err_set(err, RAMP_ENOMEM, "", "out of memory");
	}
	st = perform(c, path, "POST", text, hdrs, &b, NULL, err);
	if (st >= 300)
		ramp_err_set(err, RAMP_EIO, "controller", "%s answered %d: %.300s", path, st,
			     b.p ? b.p : "");
	if (answer && st > 0 && b.p)
		*answer = json_loadb(b.p, b.len, 0, NULL);
	free(text);
	free(b.p);
	return st;
}

int ctl_post(struct ctl *c, const char *path, const json_t *body, struct ramp_err *err)
{
	return ctl_post_answer(c, path, body, NULL, err);
}

int ctl_status(struct ctl *c, const char *model, const char *version, const char *state,
	       const char *detail)
{
	return ctl_status_delta(c, model, version, state, detail, NULL);
}

int ctl_status_delta(struct ctl *c, const char *model, const char *version, const char *state,
		     const char *detail, json_t *delta)
{
	struct ramp_err err = {0};
	json_t *j = json_pack("{s:s, s:s, s:s}", "model", model, "version", version, "state", state);
	int st;

	if (j == NULL)
		return RAMP_ENOMEM;
	if (detail && *detail) {
		char cut[4000];
		snprintf(cut, sizeof(cut), "%s", detail);
		json_object_set_new(j, "detail", json_string(cut));
	}
	if (delta)
		json_object_set(j, "delta", delta);
	st = ctl_post(c, "/v1/agent/status", j, &err);
	json_decref(j);
	return st;
}

int ctl_same_origin(const struct ctl *c, const char *url)
{
	size_t n = strlen(c->base);
	return strncmp(url, c->base, n) == 0 && (url[n] == '/' || url[n] == 0);
}
