/*
 * url.c - strict parsing of webhook URLs and the private-address test the
 * API (at create) and the delivery thread (on every connect) share.
 */
#include "domain/url.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static bool byte_ok(unsigned char c)
{
	return c > 0x20 && c < 0x7f && !strchr("<>\"'`{}|\\^", c);
}

static bool host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_';
}

/* Labels of 1..63 host characters between dots (one trailing dot allowed). */
static bool host_ok(const char *h)
{
	size_t label = 0;

	for (; *h; h++) {
		if (*h == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (!host_char(*h) || ++label > 63) {
			return false;
		}
	}
	return true;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* The port digits in [s, e): 1..65535. */
static int parse_port(const char *s, const char *e)
{
	long n = 0;

	if (s == e || e - s > 5)
		return -1;
	for (; s < e; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		n = n * 10 + (*s - '0');
	}
	return n >= 1 && n <= 65535 ? (int)n : -1;
}

/* The authority [a, e): host[:port] or [v6][:port]. */
static int parse_authority(const char *a, const char *e, struct url *out, struct ramp_err *err)
{
	const char *h = a, *he, *colon = NULL;
	unsigned char buf[16];
	size_t n;

	if (memchr(a, '@', (size_t)(e - a)))
		return ramp_err_set(err, RAMP_EINVAL, "url",
				    "url may not carry a user or password; put credentials in "
				    "\"headers\" (for instance Authorization)");
	if (a < e && *a == '[') {
		if ((he = memchr(a, ']', (size_t)(e - a))) == NULL)
			return ramp_err_set(err, RAMP_EINVAL, "url", "url has an unclosed [");
		h = a + 1;
		colon = he + 1 < e ? he + 1 : NULL;
		if (colon && *colon != ':')
			return ramp_err_set(err, RAMP_EINVAL, "url", "url has junk after ]");
	} else {
		colon = memchr(a, ':', (size_t)(e - a));
		he = colon ? colon : e;
	}
	n = (size_t)(he - h);
	if (n == 0 || n >= sizeof(out->host))
		return ramp_err_set(err, RAMP_EINVAL, "url", "url has no host");
	for (size_t i = 0; i < n; i++)
		out->host[i] = (char)(h[i] >= 'A' && h[i] <= 'Z' ? h[i] + 32 : h[i]);
	out->host[n] = '\0';
	if (*a == '[') {
		if (inet_pton(AF_INET6, out->host, buf) != 1)
			return ramp_err_set(err, RAMP_EINVAL, "url", "url has a bad IPv6 address");
		out->host_is_ip = true;
	} else {
		if (!host_ok(out->host))
			return ramp_err_set(err, RAMP_EINVAL, "url",
					    "url host must be dot-separated labels of 1 to 63 letters,"
					    " digits, '-' and '_'");
		out->host_is_ip = inet_aton(out->host, (struct in_addr *)(void *)buf) != 0;
	}
	out->port = out->https ? 443 : 80;
	if (colon && (out->port = parse_port(colon + 1, e)) < 0)
		return ramp_err_set(err, RAMP_EINVAL, "url", "url port must be from 1 to 65535");
	return 0;
}

int url_parse(const char *s, struct url *out, struct ramp_err *err)
{
	const char *a, *e;
	size_t n = s ? strlen(s) : 0;

	memset(out, 0, sizeof(*out));
	if (n == 0 || n > URL_MAX)
		return ramp_err_set(err, RAMP_EINVAL, "url", "url must be 1 to %d characters", URL_MAX);
	for (size_t i = 0; i < n; i++)
		if (!byte_ok((unsigned char)s[i]))
			return ramp_err_set(err, RAMP_EINVAL, "url",
					    "url may not contain spaces, control characters,"
					    " non-ASCII bytes or any of <>\"'`{}|\\^ (at byte %zu)", i);
	if (strncmp(s, "https://", 8) == 0) {
		out->https = true;
		a = s + 8;
	} else if (strncmp(s, "http://", 7) == 0) {
		a = s + 7;
	} else {
		return ramp_err_set(err, RAMP_EINVAL, "url", "url must start with http:// or https://");
	}
	if (strchr(s, '#'))
		return ramp_err_set(err, RAMP_EINVAL, "url", "url may not have a #fragment");
	for (const char *p = strchr(s, '%'); p; p = strchr(p + 1, '%'))
		if (!is_hex(p[1]) || !is_hex(p[2]))
			return ramp_err_set(err, RAMP_EINVAL, "url",
					    "url has a %% not followed by two hex digits");
	e = a + strcspn(a, "/?");
	return parse_authority(a, e, out, err);
}

static bool v4_private(const unsigned char *a)
{
	return a[0] == 0 || a[0] == 10 || a[0] == 127 || (a[0] == 169 && a[1] == 254) ||
	       (a[0] == 172 && (a[1] & 0xf0) == 16) || (a[0] == 192 && a[1] == 168) ||
	       (a[0] == 100 && (a[1] & 0xc0) == 64) ||
	       (a[0] == 255 && a[1] == 255 && a[2] == 255 && a[3] == 255);
}

bool url_addr_private(int family, const unsigned char *a)
{
	static const unsigned char zero[12] = {0};
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (family == AF_INET)
		return v4_private(a);
	if (family != AF_INET6)
		return true; /* not an internet address: never a webhook target */
	if (memcmp(a, zero, 12) == 0 || memcmp(a, mapped, 12) == 0)
		return v4_private(a + 12); /* ::, ::1 (0.0.0.1), ::a.b.c.d, ::ffff:a.b.c.d */
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
		return true; /* fe80::/10 */
	return (a[0] & 0xfe) == 0xfc; /* fc00::/7 */
}

bool url_host_private(const struct url *u)
{
	unsigned char buf[16];
	size_t n = strlen(u->host);

	if (strcmp(u->host, "localhost") == 0 || strcmp(u->host, "localhost.") == 0 ||
	    (n > 10 && strcmp(u->host + n - 10, ".localhost") == 0) ||
	    (n > 11 && strcmp(u->host + n - 11, ".localhost.") == 0))
		return true;
	/* inet_aton: also the shorthand forms resolvers accept (127.1, 0x7f.1, 2130706433) */
	if (inet_aton(u->host, (struct in_addr *)(void *)buf) != 0)
		return url_addr_private(AF_INET, buf);
	if (inet_pton(AF_INET6, u->host, buf) == 1)
		return url_addr_private(AF_INET6, buf);
	return false;
}
