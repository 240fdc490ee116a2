/*
 * prom_fetch.c - Prometheus instant queries over libcurl (prom_fetch.h).
 *
 * This runs on the engine's loop thread, inside an evaluation: the queries
 * of one rollout's stage go out together on one multi handle, each with its
 * provider's timeout (1..10 s, connect at most 2 s), so a slow or
 * unreachable Prometheus delays that pass by the timeout at most, never
 * more, and its error is the metric's, not the loop's. Redirects are not
 * followed; only http and https; answers above 1 MiB are an error.
 */
#include "engine/prom_fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROM_BODY_MAX (1u << 20)
#define PROM_SECRET_MAX 4096
#define PROM_CONNECT_MAX_S 2L

struct xfer {
	struct prom_req *r;
	CURL *h;
	struct curl_slist *hs;
	char *post, *body;
	size_t len;
	bool too_big;
	char errbuf[CURL_ERROR_SIZE];
	char url[PROM_ADDRESS_MAX + 32];
	char secret[PROM_SECRET_MAX];
};

__attribute__((format(printf, 2, 3))) static void say(struct prom_req *r, const char *f, ...)
{
	va_list ap;

	va_start(ap, f);
	vsnprintf(r->why, sizeof(r->why), f, ap);
	va_end(ap);
	r->outcome = PROM_ERROR;
	r->value = NAN;
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
	struct xfer *x = ctx;
	size_t k = size * n;
	char *nb;

	if (x->len + k > PROM_BODY_MAX) {
		x->too_big = true;
		return 0;
	}
	if ((nb = realloc(x->body, x->len + k + 1)) == NULL)
		return 0;
	x->body = nb;
	memcpy(x->body + x->len, p, k);
	x->len += k;
	x->body[x->len] = '\0';
	return k;
}

/* The file's text without trailing white space; 0, or -1 with r->why. */
static int read_secret(struct prom_req *r, const char *dir, const char *name, char *out,
		       size_t n)
{
	char path[4200];
	ssize_t got;
	int fd;

	if (dir == NULL || dir[0] == '\0') {
		say(r, "%s is named by the policy but RAMP_PROM_SECRETS_DIR is not set", name);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		say(r, "could not read %s in RAMP_PROM_SECRETS_DIR: %s", name, strerror(errno));
		return -1;
	}
	got = read(fd, out, n - 1);
	close(fd);
	if (got < 0 || (size_t)got >= n - 1) {
		say(r, "could not read %s in RAMP_PROM_SECRETS_DIR: %s", name,
		    got < 0 ? strerror(errno) : "larger than 4 KiB");
		return -1;
	}
	while (got > 0 && (out[got - 1] == '\n' || out[got - 1] == '\r' || out[got - 1] == ' ' ||
			   out[got - 1] == '\t'))
		got--;
	out[got] = '\0';
	for (ssize_t i = 0; i < got; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f) {
			say(r, "%s in RAMP_PROM_SECRETS_DIR holds control characters", name);
			return -1;
		}
	if (got == 0) {
		say(r, "%s in RAMP_PROM_SECRETS_DIR is empty", name);
		return -1;
	}
	return 0;
}

/* Sets x up for its request; 0, or -1 with the request's why filled. */
static int prepare(struct xfer *x, const char *secrets_dir)
{
	const struct prom_provider *pv = x->r->pv;
	size_t alen = strlen(pv->address);
	char *q;
	char hdr[PROM_SECRET_MAX + 64];
	long to = pv->timeout_s;

	while (alen > 0 && pv->address[alen - 1] == '/')
		alen--;
	snprintf(x->url, sizeof(x->url), "%.*s/api/v1/query", (int)alen, pv->address);
	if ((x->h = curl_easy_init()) == NULL) {
		say(x->r, "out of memory");
		return -1;
	}
	q = curl_easy_escape(x->h, x->r->query, 0);
	if (q == NULL || asprintf(&x->post, "query=%s&timeout=%lds", q, to) < 0) {
		x->post = NULL;
		curl_free(q);
		say(x->r, "out of memory");
		return -1;
	}
	curl_free(q);
	x->hs = curl_slist_append(NULL, "Accept: application/json");
	if (pv->auth == PROM_AUTH_BEARER) {
		if (read_secret(x->r, secrets_dir, pv->token_file, x->secret, PROM_SECRET_MAX) < 0)
			return -1;
		snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", x->secret);
		x->hs = curl_slist_append(x->hs, hdr);
		memset(hdr, 0, sizeof(hdr));
	} else if (pv->auth == PROM_AUTH_BASIC) {
		if (read_secret(x->r, secrets_dir, pv->password_file, x->secret, PROM_SECRET_MAX) <
		    0)
			return -1;
		curl_easy_setopt(x->h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(x->h, CURLOPT_USERNAME, pv->username);
		curl_easy_setopt(x->h, CURLOPT_PASSWORD, x->secret);
	}
	curl_easy_setopt(x->h, CURLOPT_URL, x->url);
	curl_easy_setopt(x->h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(x->h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hs);
	curl_easy_setopt(x->h, CURLOPT_POSTFIELDS, x->post);
	curl_easy_setopt(x->h, CURLOPT_CONNECTTIMEOUT, to < PROM_CONNECT_MAX_S ? to : PROM_CONNECT_MAX_S);
	curl_easy_setopt(x->h, CURLOPT_TIMEOUT, to);
	curl_easy_setopt(x->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->h, CURLOPT_USERAGENT, "rampd-gates");
	curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->h, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
	return 0;
}

static void finish(struct xfer *x, CURLcode cc)
{
	long status = 0;

	if (x->too_big) {
		say(x->r, "the answer of %s is larger than 1 MiB", x->url);
		return;
	}
	if (cc != CURLE_OK) {
		say(x->r, "could not query %s: %s", x->url,
		    x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc));
		return;
	}
	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
	x->r->outcome = prom_parse_response(x->body, x->len, status, &x->r->value, x->r->why,
					    sizeof(x->r->why));
}

void prom_fetch_all(struct prom_req *reqs, size_t n, const char *secrets_dir)
{
	struct xfer *xs = calloc(n ? n : 1, sizeof(*xs));
	CURLM *m = curl_multi_init();
	int running = 0;
	CURLMsg *msg;
	int left;

	for (size_t i = 0; i < n; i++)
		say(&reqs[i], "out of memory");
	if (xs == NULL || m == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		xs[i].r = &reqs[i];
		reqs[i].why[0] = '\0';
		if (prepare(&xs[i], secrets_dir) == 0 && curl_multi_add_handle(m, xs[i].h) != CURLM_OK)
			say(&reqs[i], "out of memory");
	}
	do {
		if (curl_multi_perform(m, &running) != CURLM_OK)
			break;
		if (running > 0 && curl_multi_poll(m, NULL, 0, 1000, NULL) != CURLM_OK)
			break;
	} while (running > 0);
	while ((msg = curl_multi_info_read(m, &left)) != NULL) {
		struct xfer *x = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		if (x != NULL)
			finish(x, msg->data.result);
	}
out:
	for (size_t i = 0; xs && i < n; i++) {
		if (xs[i].h) {
			curl_multi_remove_handle(m, xs[i].h);
			curl_easy_cleanup(xs[i].h);
		}
		curl_slist_free_all(xs[i].hs);
		free(xs[i].post);
		free(xs[i].body);
		memset(xs[i].secret, 0, sizeof(xs[i].secret));
	}
	free(xs);
	if (m)
		curl_multi_cleanup(m);
}
