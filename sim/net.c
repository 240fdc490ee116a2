/*
 * net.c - the request-slot pool over a libcurl multi handle (net.h).
 */
#include "net.h"

#include "common/clock.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct net {
	CURLM *multi;
	char base[512];
	struct net_req *slots;
	int nslots;
	int *free_stack, nfree;
};

uint64_t net_now_ns(void)
{
	return (uint64_t)clock_mono_ns();
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
	struct net_req *q = ud;
	size_t n = size * nmemb;

	q->bytes += (int64_t)n;
	if (q->hash)
		EVP_DigestUpdate(q->mdctx, p, n);
	else if (buf_append(&q->resp, p, n) != 0)
		return 0; /* too big: fail the transfer */
	return n;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
	struct net_req *q = ud;
	size_t n = size * nmemb, v;

	if (n > 5 && strncasecmp(p, "etag:", 5) == 0) {
		for (v = 5; v < n && (p[v] == ' ' || p[v] == '\t'); v++)
			;
		while (n > v && (p[n - 1] == '\r' || p[n - 1] == '\n' || p[n - 1] == ' '))
			n--;
		if (n - v < sizeof(q->etag)) {
			memcpy(q->etag, p + v, n - v);
			q->etag[n - v] = '\0';
		}
	}
	return size * nmemb;
}

struct net *net_new(const char *base, int slots)
{
	struct net *n = calloc(1, sizeof(*n));

	if (n == NULL || slots < 1 || strlen(base) >= sizeof(n->base))
		goto fail;
	snprintf(n->base, sizeof(n->base), "%s", base);
	if (n->base[0] && n->base[strlen(n->base) - 1] == '/')
		n->base[strlen(n->base) - 1] = '\0';
	n->slots = calloc((size_t)slots, sizeof(*n->slots));
	n->free_stack = calloc((size_t)slots, sizeof(int));
	if (n->slots == NULL || n->free_stack == NULL || (n->multi = curl_multi_init()) == NULL)
		goto fail;
	curl_multi_setopt(n->multi, CURLMOPT_MAXCONNECTS, (long)slots);
	curl_multi_setopt(n->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)slots);
	n->nslots = slots;
	for (int i = 0; i < slots; i++) {
		if ((n->slots[i].easy = curl_easy_init()) == NULL ||
		    (n->slots[i].mdctx = EVP_MD_CTX_new()) == NULL)
			goto fail;
		n->free_stack[n->nfree++] = slots - 1 - i;
	}
	return n;
fail:
	fprintf(stderr, "ramp-sim: could not set up the HTTP client\n");
	net_free(n);
	return NULL;
}

void net_free(struct net *n)
{
	if (n == NULL)
		return;
	for (int i = 0; n->slots && i < n->nslots; i++) {
		struct net_req *q = &n->slots[i];

		if (q->busy)
			curl_multi_remove_handle(n->multi, q->easy);
		curl_easy_cleanup(q->easy);
		curl_slist_free_all(q->hdrs);
		EVP_MD_CTX_free(q->mdctx);
		buf_free(&q->body);
		buf_free(&q->resp);
	}
	if (n->multi)
		curl_multi_cleanup(n->multi);
	free(n->slots);
	free(n->free_stack);
	free(n);
}

struct net_req *net_get(struct net *n)
{
	struct net_req *q;

	if (n->nfree == 0)
		return NULL;
	q = &n->slots[n->free_stack[--n->nfree]];
	q->busy = 1;
	q->hash = 0;
	buf_reset(&q->body);
	return q;
}

static void release(struct net *n, struct net_req *q);

void net_put(struct net *n, struct net_req *q)
{
	if (q && q->busy)
		release(n, q);
}

int net_idle(const struct net *n)
{
	return n->nfree;
}

static void release(struct net *n, struct net_req *q)
{
	q->busy = 0;
	n->free_stack[n->nfree++] = (int)(q - n->slots);
}

static struct curl_slist *add_header(struct curl_slist *l, const char *h, int *ok)
{
	struct curl_slist *r;

	if (h == NULL || !*ok)
		return l;
	if ((r = curl_slist_append(l, h)) == NULL)
		*ok = 0;
	return r ? r : l;
}

int net_send(struct net *n, struct net_req *q, const char *method, const char *path,
	     const char *token, const char *ctype, const char *h1, const char *h2,
	     net_done_fn done, void *ud)
{
	CURL *e = q->easy;
	char auth[512], ct[128];
	int ok = 1;

	if (strncmp(path, "http://", 7) == 0 || strncmp(path, "https://", 8) == 0)
		ok = snprintf(q->url, sizeof(q->url), "%s", path) < (int)sizeof(q->url);
	else
		ok = snprintf(q->url, sizeof(q->url), "%s%s", n->base, path) < (int)sizeof(q->url);
	curl_slist_free_all(q->hdrs);
	q->hdrs = NULL;
	if (token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		q->hdrs = add_header(q->hdrs, auth, &ok);
	}
	if (q->body.len > 0 && ctype) {
		snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
		q->hdrs = add_header(q->hdrs, ct, &ok);
	}
	q->hdrs = add_header(q->hdrs, "Expect:", &ok); /* no 100-continue round trip */
	q->hdrs = add_header(q->hdrs, h1, &ok);
	q->hdrs = add_header(q->hdrs, h2, &ok);
	if (!ok || buf_failed(&q->body)) {
		release(n, q);
		return -1;
	}
	curl_easy_reset(e);
	curl_easy_setopt(e, CURLOPT_URL, q->url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, q->hdrs);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 120000L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, q);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, q);
	curl_easy_setopt(e, CURLOPT_PRIVATE, q);
	if (strcmp(method, "GET") != 0 || q->body.len > 0) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, q->body.p ? q->body.p : "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body.len);
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	}
	buf_reset(&q->resp);
	q->etag[0] = q->error[0] = '\0';
	q->status = 0;
	q->bytes = 0;
	if (q->hash)
		EVP_DigestInit_ex(q->mdctx, EVP_sha256(), NULL);
	q->done = done;
	q->ud = ud;
	q->started_ns = net_now_ns();
	if (curl_multi_add_handle(n->multi, e) != CURLM_OK) {
		release(n, q);
		return -1;
	}
	return 0;
}

static int collect(struct net *n)
{
	CURLMsg *m;
	int left, ended = 0;

	while ((m = curl_multi_info_read(n->multi, &left)) != NULL) {
		struct net_req *q = NULL;
		unsigned int mdlen = 32;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&q);
		if (m->data.result == CURLE_OK) {
			curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &q->status);
		} else {
			q->status = 0;
			snprintf(q->error, sizeof(q->error), "%s", curl_easy_strerror(m->data.result));
		}
		curl_multi_remove_handle(n->multi, m->easy_handle);
		if (q->hash)
			EVP_DigestFinal_ex(q->mdctx, q->md, &mdlen);
		q->secs = (double)(net_now_ns() - q->started_ns) / 1e9;
		if (q->done)
			q->done(q, q->ud);
		release(n, q);
		ended++;
	}
	return ended;
}

int net_wait(struct net *n, int timeout_ms)
{
	int running, ended;

	curl_multi_perform(n->multi, &running);
	if ((ended = collect(n)) > 0)
		return ended;
	if (timeout_ms > 0)
		curl_multi_poll(n->multi, NULL, 0, timeout_ms, NULL);
	curl_multi_perform(n->multi, &running);
	return collect(n);
}

void net_drain(struct net *n, int timeout_ms)
{
	uint64_t end = net_now_ns() + (uint64_t)timeout_ms * 1000000ULL;

	while (n->nfree < n->nslots && net_now_ns() < end)
		net_wait(n, 20);
}
