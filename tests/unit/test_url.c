/*
 * test_url.c - webhook URL parsing and the private-address test (domain/url.c).
 */
#include "unit.h"

#include "domain/url.h"

#include <arpa/inet.h>
#include <sys/socket.h>

static int parse(const char *s, struct url *u)
{
	struct ramp_err e;

	return url_parse(s, u, &e);
}

static void url_accepts_http_and_https_with_ports(void)
{
	struct url u;

	CHECK_EQ_INT(parse("https://Hooks.Example.com/x?a=%20", &u), 0);
	CHECK_EQ_STR(u.host, "hooks.example.com");
	CHECK_EQ_INT(u.port, 443);
	CHECK_EQ_INT(parse("http://h:8080", &u), 0);
	CHECK_EQ_INT(u.port, 8080);
	CHECK_EQ_INT(parse("http://[2001:db8::1]:65535/", &u), 0);
	CHECK_EQ_STR(u.host, "2001:db8::1");
	CHECK_EQ_INT(u.port, 65535);
}

static void url_rejects_userinfo_bad_ports_and_odd_bytes(void)
{
	static const char *const bad[] = {
		"http://u:p@h/", "http://u@h/", "http://h:0/", "http://h:65536/", "http://h:/",
		"http://h:1a/", "http://h/a b", "http://h/<x>", "http://h/\x01", "http://h/\xc3\xa9",
		"http://h/#f", "http://h/%zz", "http://h/%4", "ftp://h/", "http://", "http:///x",
		"http://[::1", "http://[::1]x/", "http://a..b/", "http://.a/", "", NULL,
	};
	struct url u;

	for (int i = 0; bad[i]; i++)
		CHECK(parse(bad[i], &u) == RAMP_EINVAL);
	CHECK(parse(NULL, &u) == RAMP_EINVAL);
}

static void url_knows_private_addresses(void)
{
	static const char *const priv[] = {
		"127.0.0.1", "127.1", "2130706433", "0x7f.1", "10.0.0.1", "172.16.0.1", "172.31.1.1",
		"192.168.0.1", "169.254.169.254", "0.0.0.0", "100.64.0.1", "::1", "::",
		"fe80::1", "febf::1", "fc00::1", "fdff::1", "::ffff:10.0.0.1", "localhost",
		"a.localhost", NULL,
	};
	static const char *const pub[] = {
		"8.8.8.8", "172.32.0.1", "172.15.0.1", "192.169.0.1", "11.0.0.1", "2001:db8::1",
		"fec0::1", "::ffff:8.8.8.8", "example.com", "localhost.example.com", NULL,
	};
	struct url u;

	for (int i = 0; priv[i]; i++) {
		snprintf(u.host, sizeof(u.host), "%s", priv[i]);
		CHECK(url_host_private(&u));
	}
	for (int i = 0; pub[i]; i++) {
		snprintf(u.host, sizeof(u.host), "%s", pub[i]);
		CHECK(!url_host_private(&u));
	}
}

static const struct unit_case cases[] = {
	UNIT(url_accepts_http_and_https_with_ports),
	UNIT(url_rejects_userinfo_bad_ports_and_odd_bytes),
	UNIT(url_knows_private_addresses),
	{0},
};
UNIT_MAIN(cases)
