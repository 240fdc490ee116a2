/*
 * webhooks.c - the delivery thread (a ticker, common/ticker.h): every
 * second, or at once after a full batch, it claims up to WEBHOOK_BATCH due
 * deliveries from the outbox (store_webhook_claim: FOR UPDATE SKIP LOCKED
 * plus a lease, so replicas never send one twice), POSTs each payload with
 * libcurl (5 s timeouts) and records the outcome (store_webhook_result:
 * delivered on 2xx, otherwise a backoff retry). Delivery is at least once:
 * receivers dedupe on X-Ramp-Delivery. Every address curl is about to
 * connect to is checked (open_guarded): without RAMP_WEBHOOK_ALLOW_PRIVATE
 * a name that resolves to loopback, private or link-local space is refused
 * there, whatever it resolved to when the webhook was created.
 */
#include "engine/webhooks.h"

#include "common/hex.h"
#include "common/log.h"
#include "common/ticker.h"
#include "domain/url.h"
#include "store/store_webhooks.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define WEBHOOK_BATCH 20
#define WEBHOOK_TIMEOUT_S 5
#define WEBHOOK_PERIOD_MS 1000

static struct {
	struct app *app;
	struct ticker *ticker;
	CURL *curl; /* the ticker thread's own */
} W;

void webhooks_sign(const char *secret, const char *body, size_t len, char *out, size_t outlen)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	size_t n;

	HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, len, mac,
	     &maclen);
	n = (size_t)snprintf(out, outlen, "sha256=");
	if (n + 2 * (size_t)maclen < outlen)
		hex_encode(out + n, mac, maclen);
}

/* Discards the receiver's answer. */
static size_t sink(char *p, size_t size, size_t n, void *ctx)
{
	return size * n;
}

struct guard {
	bool allow_private;
	bool refused;
	char addr[INET6_ADDRSTRLEN];
};

/* CURLOPT_OPENSOCKETFUNCTION: a socket only for a public address. */
static curl_socket_t open_guarded(void *ctx, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct guard *g = ctx;
	const void *ip = NULL;

	(void)purpose;
	if (a->family == AF_INET)
		ip = &((const struct sockaddr_in *)(const void *)&a->addr)->sin_addr;
	else if (a->family == AF_INET6)
		ip = &((const struct sockaddr_in6 *)(const void *)&a->addr)->sin6_addr;
	if (!g->allow_private && (ip == NULL || url_addr_private(a->family, ip))) {
		g->refused = true;
		if (ip == NULL || inet_ntop(a->family, ip, g->addr, sizeof(g->addr)) == NULL)
			snprintf(g->addr, sizeof(g->addr), "?");
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype, a->protocol);
}

/* The webhook's own headers ("Name: value"), appended to hs. */
static struct curl_slist *add_headers(struct curl_slist *hs, json_t *headers)
{
	const char *k;
	json_t *v;
	char line[4200];

	json_object_foreach(headers, k, v) {
		snprintf(line, sizeof(line), "%s: %s", k, json_string_value(v));
		hs = curl_slist_append(hs, line);
	}
	return hs;
}

/* One POST; 0 with *status on any HTTP answer, RAMP_EIO with err otherwise. */
static int post(CURL *h, json_t *d, long *status, char *err, size_t errlen)
{
	const char *body = json_string_value(json_object_get(d, "payload"));
	const char *secret = json_string_value(json_object_get(d, "secret"));
	char hdr[3][160], sig[80];
	struct curl_slist *hs = NULL;
	struct guard g = {.allow_private = W.app->cfg.webhook_allow_private != 0};
	CURLcode cc;

	webhooks_sign(secret, body, strlen(body), sig, sizeof(sig));
	snprintf(hdr[0], sizeof(hdr[0]), "X-Ramp-Event: %s",
		 json_string_value(json_object_get(d, "type")));
	snprintf(hdr[1], sizeof(hdr[1]), "X-Ramp-Delivery: %lld",
		 (long long)json_integer_value(json_object_get(d, "id")));
	snprintf(hdr[2], sizeof(hdr[2]), "X-Ramp-Signature: %s", sig);
	hs = curl_slist_append(hs, "Content-Type: application/json");
	hs = curl_slist_append(hs, "User-Agent: rampd-webhooks");
	hs = curl_slist_append(hs, "Expect:");
	for (int i = 0; i < 3; i++)
		hs = curl_slist_append(hs, hdr[i]);
	hs = add_headers(hs, json_object_get(d, "headers"));
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_guarded);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, &g);
	curl_easy_setopt(h, CURLOPT_URL, json_string_value(json_object_get(d, "url")));
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)WEBHOOK_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)WEBHOOK_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
	cc = curl_easy_perform(h);
	curl_slist_free_all(hs);
	if (cc != CURLE_OK && g.refused) {
		snprintf(err, errlen,
			 "refused to connect to %s: a loopback, private or link-local address"
			 " (RAMP_WEBHOOK_ALLOW_PRIVATE=1 allows it)", g.addr);
		return RAMP_EIO;
	}
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "%s", curl_easy_strerror(cc));
		return RAMP_EIO;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	return 0;
}

/* Sends one claimed batch; the number of rows it held. */
static size_t deliver_batch(struct ticker *t, CURL *h)
{
	json_t *rows = NULL, *d;
	size_t i, n;

	if (store_webhook_claim(W.app->db, WEBHOOK_BATCH, &rows) != 0)
		return 0;
	json_array_foreach(rows, i, d) {
		char err[256] = "";
		long st = 0;
		json_int_t id = json_integer_value(json_object_get(d, "id"));
		bool ok;

		if (ticker_stopping(t)) { /* shutting down: hand the rest back unsent */
			store_webhook_release(W.app->db, id);
			continue;
		}
		ok = post(h, d, &st, err, sizeof(err)) == 0 && st >= 200 && st < 300;
		if (!ok && err[0] == '\0')
			snprintf(err, sizeof(err), "receiver answered %ld", st);
		if (!ok)
			log_warn("msg=\"webhook delivery failed\" delivery=%lld error=\"%s\"",
				 (long long)id, err);
		store_webhook_result(W.app->db, id, ok, (int)st, ok ? NULL : err);
	}
	n = json_array_size(rows);
	json_decref(rows);
	return n;
}

/* One round of the ticker: a full batch means more may be due now. */
static bool deliver_round(struct ticker *t, void *ctx)
{
	(void)ctx;
	if (W.curl == NULL)
		W.curl = curl_easy_init();
	return W.curl != NULL && deliver_batch(t, W.curl) == WEBHOOK_BATCH;
}

int webhooks_start(struct app *app)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("msg=\"could not initialise libcurl for webhooks\"");
		return RAMP_EINTERNAL;
	}
	W.app = app;
	W.curl = NULL;
	W.ticker = ticker_start(WEBHOOK_PERIOD_MS, deliver_round, NULL);
	if (W.ticker == NULL) {
		log_error("msg=\"could not start the webhook thread\"");
		curl_global_cleanup();
		return RAMP_EINTERNAL;
	}
	return 0;
}

void webhooks_stop(void)
{
	if (W.ticker == NULL)
		return;
	ticker_stop(W.ticker); /* the current batch ends, the rest is released */
	W.ticker = NULL;
	curl_easy_cleanup(W.curl);
	W.curl = NULL;
	curl_global_cleanup();
}
