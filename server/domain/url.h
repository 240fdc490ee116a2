/*
 * url.h - webhook target URLs: parsed strictly (http/https, a host, a port
 * in 1..65535, no userinfo, nothing a receiver or a log could misread) and
 * classified, so rampd can refuse to POST into its own network. Pure.
 */
#ifndef RAMP_URL_H
#define RAMP_URL_H

#include "common/err.h"

#include <stdbool.h>

#define URL_MAX 2048

struct url {
	bool https;
	char host[256]; /* lower case; an IPv6 literal without its brackets */
	int port;       /* given, or 80/443 */
	bool host_is_ip;
};

/* Parses s into *out: 0, or RAMP_EINVAL with err (field "url") saying what
 * is wrong. Refused: other schemes, no host, userinfo ("user:pw@"), a port
 * outside 1..65535, a fragment, and any byte <= 0x20, 0x7f or above, or one
 * of <>"'`{}|\^ anywhere. */
int url_parse(const char *s, struct url *out, struct ramp_err *err);

/* True for addresses a webhook must not reach unless allowed: IPv4
 * 0/8, 10/8, 127/8, 169.254/16, 172.16/12, 192.168/16, 100.64/10,
 * 255.255.255.255; IPv6 ::, ::1, fe80::/10, fc00::/7, and IPv4-mapped or
 * -compatible forms of the IPv4 ones. family is AF_INET (4 bytes at a) or
 * AF_INET6 (16 bytes). */
bool url_addr_private(int family, const unsigned char *a);

/* True when a parsed host is such an address literal, or "localhost" or a
 * name under ".localhost" (RFC 6761: always loopback). */
bool url_host_private(const struct url *u);

#endif
