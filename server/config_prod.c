/*
 * config_prod.c - the production settings of rampd (docs/security.md):
 * TLS files, device-certificate auth, enrollment restrictions, connection
 * limits and timeouts, and per-role request rates. config.c hands every
 * RAMP_* name it does not know to config_prod_set().
 */
#include "config.h"

#include "domain/units.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *const config_prod_settings[] = {
	"RAMP_TLS_CERT", "RAMP_TLS_KEY", "RAMP_TLS_CLIENT_CA", "RAMP_ALLOW_PLAINTEXT",
	"RAMP_PLAIN_LISTEN", "RAMP_PUBLIC_URL", "RAMP_DEVICE_AUTH", "RAMP_ENROLL_ALLOWLIST",
	"RAMP_ENROLL_REQUIRE_CERT", "RAMP_CONN_TIMEOUT", "RAMP_HEADER_TIMEOUT", "RAMP_BODY_TIMEOUT",
	"RAMP_BODY_MIN_RATE",
	"RAMP_MAX_CONNECTIONS",
#define RATE_SETTING_(N, n, i, t) "RAMP_RATE_" #N,
	RAMP_ROLES(RATE_SETTING_)
#undef RATE_SETTING_
	"RAMP_WEBHOOK_ALLOW_PRIVATE", NULL,
};

/* RAMP_RATE_<NAME> by role index (auth/roles.h) */
static const char *const rate_roles[ROLE_COUNT] = {
#define RATE_ROLE_(N, n, i, t) [i] = #N,
	RAMP_ROLES(RATE_ROLE_)
#undef RATE_ROLE_
};

void config_prod_defaults(struct config *c)
{
	c->device_auth = CONFIG_DEVICE_AUTH_TOKEN;
	c->conn_timeout_s = 60;
	c->header_timeout_s = 30;
	c->body_timeout_s = 60;
	c->body_min_rate = 1024;
	c->max_connections = 10000;
	/* generous: a device polls every poll_interval; tests and benchmarks
	 * never come near these. 0 is unlimited (admin, ingest gateways). */
	c->rate[ROLE_INDEX_OPERATOR] = (struct config_rate){1000, 5000};
	c->rate[ROLE_INDEX_VIEWER] = (struct config_rate){1000, 5000};
	c->rate[ROLE_INDEX_CI] = (struct config_rate){1000, 5000};
	c->rate[ROLE_INDEX_ENROLL] = (struct config_rate){50, 500};
	c->rate[ROLE_INDEX_DEVICE] = (struct config_rate){100, 500};
}

static int set_path(char *dst, size_t len, const char *v)
{
	return snprintf(dst, len, "%s", v) < (int)len ? 0 : -1;
}

static int parse_bool(const char *v, int *out)
{
	if (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0)
		*out = 1;
	else if (strcmp(v, "0") == 0 || strcasecmp(v, "false") == 0 || strcasecmp(v, "no") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

static int parse_count(const char *v, long min, long max, int *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || end == v || *end || n < min || n > max)
		return -1;
	*out = (int)n;
	return 0;
}

/* "host:port" or "[v6]:port" (brackets dropped), as RAMP_LISTEN. */
static int parse_hostport(const char *v, char *host, size_t hostlen, int *port)
{
	const char *colon = strrchr(v, ':'), *h = v;
	size_t hlen;
	int p;

	if (colon == NULL || parse_count(colon + 1, 1, 65535, &p) != 0)
		return -1;
	hlen = (size_t)(colon - v);
	if (v[0] == '[') {
		if (hlen < 3 || v[hlen - 1] != ']')
			return -1;
		h = v + 1;
		hlen -= 2;
	} else if (memchr(v, ':', hlen)) {
		return -1;
	}
	if (hlen >= hostlen)
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (host[0] == '\0' || strcmp(host, "*") == 0)
		snprintf(host, hostlen, "0.0.0.0");
	*port = p;
	return 0;
}

/*
 * "<n>/s", "<n>/m" or "<n>/h", optionally ",burst=<m>" (default: one
 * second's worth, at least 1); "0" or "off" for unlimited.
 */
static int parse_rate(const char *v, struct config_rate *out)
{
	char *end;
	double n, per = 1, burst;

	if (strcmp(v, "0") == 0 || strcasecmp(v, "off") == 0) {
		*out = (struct config_rate){0, 0};
		return 0;
	}
	errno = 0;
	n = strtod(v, &end);
	if (errno || end == v || !(n > 0) || n > 1e9 || *end != '/')
		return -1;
	switch (end[1]) {
	case 's':
		per = 1;
		break;
	case 'm':
		per = 60;
		break;
	case 'h':
		per = 3600;
		break;
	default:
		return -1;
	}
	out->per_s = n / per;
	burst = out->per_s < 1 ? 1 : out->per_s;
	end += 2;
	if (*end == ',') {
		if (strncmp(end + 1, "burst=", 6) != 0)
			return -1;
		v = end + 7;
		errno = 0;
		burst = strtod(v, &end);
		if (errno || end == v || *end || !(burst >= 1) || burst > 1e9)
			return -1;
	} else if (*end) {
		return -1;
	}
	out->burst = burst;
	return 0;
}

int config_prod_set(struct config *c, const char *name, const char *v)
{
	int64_t s;

	if (strcmp(name, "RAMP_TLS_CERT") == 0)
		return set_path(c->tls_cert, sizeof(c->tls_cert), v);
	if (strcmp(name, "RAMP_TLS_KEY") == 0)
		return set_path(c->tls_key, sizeof(c->tls_key), v);
	if (strcmp(name, "RAMP_TLS_CLIENT_CA") == 0)
		return set_path(c->tls_client_ca, sizeof(c->tls_client_ca), v);
	if (strcmp(name, "RAMP_ALLOW_PLAINTEXT") == 0)
		return parse_bool(v, &c->allow_plaintext);
	if (strcmp(name, "RAMP_PLAIN_LISTEN") == 0)
		return parse_hostport(v, c->plain_host, sizeof(c->plain_host), &c->plain_port);
	if (strcmp(name, "RAMP_PUBLIC_URL") == 0)
		return (strncmp(v, "http://", 7) == 0 || strncmp(v, "https://", 8) == 0) &&
				       strlen(v) < sizeof(c->public_url)
			       ? set_path(c->public_url, sizeof(c->public_url), v)
			       : -1;
	if (strcmp(name, "RAMP_DEVICE_AUTH") == 0) {
		if (strcmp(v, "token") == 0)
			c->device_auth = CONFIG_DEVICE_AUTH_TOKEN;
		else if (strcmp(v, "cert") == 0)
			c->device_auth = CONFIG_DEVICE_AUTH_CERT;
		else if (strcmp(v, "both") == 0)
			c->device_auth = CONFIG_DEVICE_AUTH_BOTH;
		else
			return -1;
		return 0;
	}
	if (strcmp(name, "RAMP_ENROLL_ALLOWLIST") == 0)
		return set_path(c->enroll_allowlist, sizeof(c->enroll_allowlist), v);
	if (strcmp(name, "RAMP_ENROLL_REQUIRE_CERT") == 0)
		return parse_bool(v, &c->enroll_require_cert);
	if (strcmp(name, "RAMP_WEBHOOK_ALLOW_PRIVATE") == 0)
		return parse_bool(v, &c->webhook_allow_private);
	if (strcmp(name, "RAMP_CONN_TIMEOUT") == 0 || strcmp(name, "RAMP_HEADER_TIMEOUT") == 0) {
		if (units_parse_duration(v, &s) != 0 || s < 1 || s > 3600)
			return -1;
		*(name[5] == 'C' ? &c->conn_timeout_s : &c->header_timeout_s) = (int)s;
		return 0;
	}
	if (strcmp(name, "RAMP_BODY_TIMEOUT") == 0) {
		if (units_parse_duration(v, &s) != 0 || s < 1 || s > 3600)
			return -1;
		c->body_timeout_s = (int)s;
		return 0;
	}
	if (strcmp(name, "RAMP_BODY_MIN_RATE") == 0)
		return parse_count(v, 0, 1000000000, &c->body_min_rate);
	if (strcmp(name, "RAMP_MAX_CONNECTIONS") == 0)
		return parse_count(v, 1, 1000000, &c->max_connections);
	if (strncmp(name, "RAMP_RATE_", 10) == 0)
		for (int i = 0; i < ROLE_COUNT; i++)
			if (strcmp(name + 10, rate_roles[i]) == 0)
				return parse_rate(v, &c->rate[i]);
	return -2;
}

/* 127.x.x.x, ::1 and the name localhost (which rampd binds as 127.0.0.1). */
static int loopback(const char *host)
{
	return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
	       strcmp(host, "localhost") == 0;
}

int config_prod_check(const struct config *c)
{
	if (!c->tls_cert[0] != !c->tls_key[0]) {
		fprintf(stderr, "rampd: RAMP_TLS_CERT and RAMP_TLS_KEY go together\n");
		return -1;
	}
	if (c->tls_client_ca[0] && !c->tls_cert[0]) {
		fprintf(stderr, "rampd: RAMP_TLS_CLIENT_CA needs RAMP_TLS_CERT and RAMP_TLS_KEY\n");
		return -1;
	}
	if ((c->device_auth != CONFIG_DEVICE_AUTH_TOKEN || c->enroll_require_cert) &&
	    !c->tls_client_ca[0]) {
		fprintf(stderr, "rampd: device certificates (RAMP_DEVICE_AUTH=cert|both,"
				" RAMP_ENROLL_REQUIRE_CERT) need RAMP_TLS_CLIENT_CA\n");
		return -1;
	}
	if (c->plain_port && !c->allow_plaintext) {
		fprintf(stderr, "rampd: RAMP_PLAIN_LISTEN serves plain HTTP; it needs"
				" RAMP_ALLOW_PLAINTEXT=1\n");
		return -1;
	}
	if (c->plain_port && !c->tls_cert[0]) {
		fprintf(stderr, "rampd: RAMP_PLAIN_LISTEN is a second, plain listener beside TLS;"
				" without RAMP_TLS_CERT, RAMP_LISTEN is already plain\n");
		return -1;
	}
	if (!c->tls_cert[0] && !c->allow_plaintext && !loopback(c->listen_host)) {
		fprintf(stderr,
			"rampd: refusing to serve plain HTTP on %s: set RAMP_TLS_CERT and"
			" RAMP_TLS_KEY, or RAMP_ALLOW_PLAINTEXT=1 behind a TLS front end\n",
			c->listen_host);
		return -1;
	}
	return 0;
}
