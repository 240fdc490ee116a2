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

static int parse_count(const char *v, int min, int max, int *out)
{
	int64_t n;

	if (units_parse_int(v, min, max, &n) != 0)
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

static int set_duration(const char *v, int *out)
{
	int64_t s;

	if (units_parse_duration(v, &s) != 0 || s < 1 || s > 3600)
		return -1;
	*out = (int)s;
	return 0;
}

/* One setter per setting: 0, or -1 when v is bad. */
#define PATH_SETTER(field)                                                     \
	static int set_##field(struct config *c, const char *v)                \
	{                                                                      \
		return set_path(c->field, sizeof(c->field), v);                \
	}
#define BOOL_SETTER(field)                                                     \
	static int set_##field(struct config *c, const char *v)                \
	{                                                                      \
		return parse_bool(v, &c->field);                               \
	}
#define DURATION_SETTER(field)                                                 \
	static int set_##field(struct config *c, const char *v)                \
	{                                                                      \
		return set_duration(v, &c->field);                             \
	}
PATH_SETTER(tls_cert)
PATH_SETTER(tls_key)
PATH_SETTER(tls_client_ca)
PATH_SETTER(enroll_allowlist)
BOOL_SETTER(allow_plaintext)
BOOL_SETTER(enroll_require_cert)
BOOL_SETTER(webhook_allow_private)
DURATION_SETTER(conn_timeout_s)
DURATION_SETTER(header_timeout_s)
DURATION_SETTER(body_timeout_s)

static int set_plain_listen(struct config *c, const char *v)
{
	return parse_hostport(v, c->plain_host, sizeof(c->plain_host), &c->plain_port);
}

static int set_public_url(struct config *c, const char *v)
{
	return (strncmp(v, "http://", 7) == 0 || strncmp(v, "https://", 8) == 0) &&
			       strlen(v) < sizeof(c->public_url)
		       ? set_path(c->public_url, sizeof(c->public_url), v)
		       : -1;
}

static int set_device_auth(struct config *c, const char *v)
{
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

static int set_body_min_rate(struct config *c, const char *v)
{
	return parse_count(v, 0, 1000000000, &c->body_min_rate);
}

static int set_max_connections(struct config *c, const char *v)
{
	return parse_count(v, 1, 1000000, &c->max_connections);
}

/*
 * The production settings: X(NAME, setter, default), each the variable
 * RAMP_<NAME> (and the flag --<name>); default is the text applied by
 * config_prod_defaults(), NULL for none (zero). The per-role rates
 * RAMP_RATE_<ROLE> follow, one per row of auth/roles.h.
 */
#define CONFIG_PROD_SETTINGS(X)                                                \
	X(TLS_CERT, set_tls_cert, NULL)                                        \
	X(TLS_KEY, set_tls_key, NULL)                                          \
	X(TLS_CLIENT_CA, set_tls_client_ca, NULL)                              \
	X(ALLOW_PLAINTEXT, set_allow_plaintext, NULL)                          \
	X(PLAIN_LISTEN, set_plain_listen, NULL)                                \
	X(PUBLIC_URL, set_public_url, NULL)                                    \
	X(DEVICE_AUTH, set_device_auth, "token")                               \
	X(ENROLL_ALLOWLIST, set_enroll_allowlist, NULL)                        \
	X(ENROLL_REQUIRE_CERT, set_enroll_require_cert, NULL)                  \
	X(CONN_TIMEOUT, set_conn_timeout_s, "60")                              \
	X(HEADER_TIMEOUT, set_header_timeout_s, "30")                          \
	X(BODY_TIMEOUT, set_body_timeout_s, "60")                              \
	X(BODY_MIN_RATE, set_body_min_rate, "1024")                            \
	X(MAX_CONNECTIONS, set_max_connections, "10000")                       \
	X(WEBHOOK_ALLOW_PRIVATE, set_webhook_allow_private, NULL)

/* Default rates: generous, a device polls every poll_interval; tests and
 * benchmarks never come near these. Unlisted (admin, ingest gateways):
 * unlimited. */
#define RATE_DEFAULT_ADMIN NULL
#define RATE_DEFAULT_OPERATOR "1000/s,burst=5000"
#define RATE_DEFAULT_VIEWER "1000/s,burst=5000"
#define RATE_DEFAULT_CI "1000/s,burst=5000"
#define RATE_DEFAULT_ENROLL "50/s,burst=500"
#define RATE_DEFAULT_INGEST NULL
#define RATE_DEFAULT_DEVICE "100/s,burst=500"

static const struct prod_setting {
	const char *name;
	int (*set)(struct config *c, const char *v); /* NULL: a rate, of role */
	int role;                                    /* role index of a rate */
	const char *def;
} prod_settings[] = {
#define PROD_SETTING_(N, set, def) {"RAMP_" #N, set, 0, def},
	CONFIG_PROD_SETTINGS(PROD_SETTING_)
#undef PROD_SETTING_
#define RATE_SETTING_(N, n, i, t) {"RAMP_RATE_" #N, NULL, i, RATE_DEFAULT_##N},
	RAMP_ROLES(RATE_SETTING_)
#undef RATE_SETTING_
};
#define NPROD (sizeof(prod_settings) / sizeof(prod_settings[0]))

const char *const config_prod_settings[NPROD + 1] = {
#define PROD_NAME_(N, set, def) "RAMP_" #N,
	CONFIG_PROD_SETTINGS(PROD_NAME_)
#undef PROD_NAME_
#define RATE_NAME_(N, n, i, t) "RAMP_RATE_" #N,
	RAMP_ROLES(RATE_NAME_)
#undef RATE_NAME_
	NULL,
};

static int apply(struct config *c, const struct prod_setting *s, const char *v)
{
	return s->set ? s->set(c, v) : parse_rate(v, &c->rate[s->role]);
}

void config_prod_defaults(struct config *c)
{
	for (size_t i = 0; i < NPROD; i++)
		if (prod_settings[i].def)
			apply(c, &prod_settings[i], prod_settings[i].def);
}

int config_prod_set(struct config *c, const char *name, const char *v)
{
	for (size_t i = 0; i < NPROD; i++)
		if (strcmp(name, prod_settings[i].name) == 0)
			return apply(c, &prod_settings[i], v) == 0 ? 0 : -1;
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
