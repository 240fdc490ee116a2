/* test_prod.c - per-token rate limiting (token buckets on a given clock)
 * and the production settings' parsing (rates, TLS pairs, plaintext). */
#include "config.h"
#include "http/ratelimit.h"
#include "unit.h"

#include <stdint.h>

#define SEC 1000000000LL
#define DEVICE 6
#define VIEWER 2

static void init_rates(double per_s, double burst)
{
	struct config_rate r[RATELIMIT_ROLES] = {{0, 0}};

	r[DEVICE] = (struct config_rate){per_s, burst};
	ratelimit_init(r);
}

static void bucket_allows_its_burst_then_refuses(void)
{
	init_rates(1, 3);
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(ratelimit_take(DEVICE, "device:a", 100 * SEC), 0);
	CHECK_EQ_INT(ratelimit_take(DEVICE, "device:a", 100 * SEC), 1);
	ratelimit_shutdown();
}

static void bucket_refills_at_its_rate(void)
{
	init_rates(2, 2);
	CHECK_EQ_INT(ratelimit_take(DEVICE, "device:a", 10 * SEC), 0);
	CHECK_EQ_INT(ratelimit_take(DEVICE, "device:a", 10 * SEC), 0);
	CHECK(ratelimit_take(DEVICE, "device:a", 10 * SEC) > 0);
	/* half a second at 2/s is one request */
	CHECK_EQ_INT(ratelimit_take(DEVICE, "device:a", 10 * SEC + SEC / 2), 0);
	CHECK(ratelimit_take(DEVICE, "device:a", 10 * SEC + SEC / 2) > 0);
	/* a long pause refills only up to the burst */
	CHECK_EQ_INT(ratelimit_take(DEVICE, "device:a", 1000 * SEC), 0);
	CHECK_EQ_INT(ratelimit_take(DEVICE, "device:a", 1000 * SEC), 0);
	CHECK(ratelimit_take(DEVICE, "device:a", 1000 * SEC) > 0);
	ratelimit_shutdown();
}

static void retry_after_counts_whole_seconds_to_the_next_request(void)
{
	init_rates(1.0 / 60, 1); /* 1/m */
	CHECK_EQ_INT(ratelimit_take(DEVICE, "device:a", 0), 0);
	CHECK_EQ_INT(ratelimit_take(DEVICE, "device:a", 0), 60);
	CHECK_EQ_INT(ratelimit_take(DEVICE, "device:a", 30 * SEC), 30);
	ratelimit_shutdown();
}

static void buckets_are_per_token_and_per_role(void)
{
	uint64_t refused[RATELIMIT_ROLES];

	init_rates(1, 1);
	CHECK_EQ_INT(ratelimit_take(DEVICE, "device:a", 0), 0);
	CHECK(ratelimit_take(DEVICE, "device:a", 0) > 0);
	CHECK_EQ_INT(ratelimit_take(DEVICE, "device:b", 0), 0);
	/* a role without a rate is never limited */
	for (int i = 0; i < 1000; i++)
		CHECK_EQ_INT(ratelimit_take(VIEWER, "dash", 0), 0);
	ratelimit_refused(refused);
	CHECK_EQ_INT(refused[DEVICE], 1);
	CHECK_EQ_INT(refused[VIEWER], 0);
	ratelimit_shutdown();
}

static void many_tokens_keep_their_own_state(void)
{
	char key[32];

	init_rates(1, 1);
	for (int i = 0; i < 200000; i++) {
		snprintf(key, sizeof(key), "device:%d", i);
		CHECK_EQ_INT(ratelimit_take(DEVICE, key, 0), 0);
	}
	for (int i = 0; i < 200000; i += 997) {
		snprintf(key, sizeof(key), "device:%d", i);
		CHECK(ratelimit_take(DEVICE, key, 0) > 0);
	}
	ratelimit_shutdown();
}

static int set(struct config *c, const char *name, const char *v)
{
	return config_prod_set(c, name, v);
}

static void rates_parse_with_units_and_bursts(void)
{
	struct config c = {0};

	config_prod_defaults(&c);
	CHECK_EQ_INT(set(&c, "RAMP_RATE_DEVICE", "5/s,burst=20"), 0);
	CHECK_NEAR(c.rate[DEVICE].per_s, 5, 1e-9);
	CHECK_NEAR(c.rate[DEVICE].burst, 20, 1e-9);
	CHECK_EQ_INT(set(&c, "RAMP_RATE_VIEWER", "120/m"), 0);
	CHECK_NEAR(c.rate[VIEWER].per_s, 2, 1e-9);
	CHECK_NEAR(c.rate[VIEWER].burst, 2, 1e-9);
	CHECK_EQ_INT(set(&c, "RAMP_RATE_CI", "36/h"), 0);
	CHECK_NEAR(c.rate[3].burst, 1, 1e-9);
	CHECK_EQ_INT(set(&c, "RAMP_RATE_ADMIN", "off"), 0);
	CHECK_NEAR(c.rate[0].per_s, 0, 1e-9);
	const char *bad[] = {"fast", "5", "5/d", "-1/s", "5/s,", "5/s,burst=0", "5/s,bursts=2",
			     "5/s burst=2", "nan/s", ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ_INT(set(&c, "RAMP_RATE_DEVICE", bad[i]), -1);
	CHECK_EQ_INT(set(&c, "RAMP_RATE_NOBODY", "1/s"), -2);
}

static void defaults_come_from_the_settings_table(void)
{
	struct config c = {0};

	config_prod_defaults(&c);
	CHECK_EQ_INT(c.device_auth, CONFIG_DEVICE_AUTH_TOKEN);
	CHECK_EQ_INT(c.conn_timeout_s, 60);
	CHECK_EQ_INT(c.header_timeout_s, 30);
	CHECK_EQ_INT(c.body_timeout_s, 60);
	CHECK_EQ_INT(c.body_min_rate, 1024);
	CHECK_EQ_INT(c.max_connections, 10000);
	CHECK_NEAR(c.rate[ROLE_INDEX_ADMIN].per_s, 0, 1e-9);
	CHECK_NEAR(c.rate[ROLE_INDEX_OPERATOR].per_s, 1000, 1e-9);
	CHECK_NEAR(c.rate[ROLE_INDEX_OPERATOR].burst, 5000, 1e-9);
	CHECK_NEAR(c.rate[ROLE_INDEX_CI].burst, 5000, 1e-9);
	CHECK_NEAR(c.rate[ROLE_INDEX_ENROLL].per_s, 50, 1e-9);
	CHECK_NEAR(c.rate[ROLE_INDEX_ENROLL].burst, 500, 1e-9);
	CHECK_NEAR(c.rate[ROLE_INDEX_INGEST].per_s, 0, 1e-9);
	CHECK_NEAR(c.rate[ROLE_INDEX_DEVICE].per_s, 100, 1e-9);
	CHECK_NEAR(c.rate[ROLE_INDEX_DEVICE].burst, 500, 1e-9);
	CHECK_EQ_INT(c.allow_plaintext, 0);
	CHECK_EQ_INT(c.plain_port, 0);
}

static void settings_are_checked_together(void)
{
	struct config c = {0};

	config_prod_defaults(&c);
	snprintf(c.listen_host, sizeof(c.listen_host), "127.0.0.1");
	CHECK_EQ_INT(config_prod_check(&c), 0);
	snprintf(c.listen_host, sizeof(c.listen_host), "0.0.0.0");
	CHECK_EQ_INT(config_prod_check(&c), -1);
	CHECK_EQ_INT(set(&c, "RAMP_ALLOW_PLAINTEXT", "1"), 0);
	CHECK_EQ_INT(config_prod_check(&c), 0);
	CHECK_EQ_INT(set(&c, "RAMP_TLS_CERT", "/x/cert.pem"), 0);
	CHECK_EQ_INT(config_prod_check(&c), -1); /* no key */
	CHECK_EQ_INT(set(&c, "RAMP_TLS_KEY", "/x/key.pem"), 0);
	CHECK_EQ_INT(config_prod_check(&c), 0);
	CHECK_EQ_INT(set(&c, "RAMP_DEVICE_AUTH", "cert"), 0);
	CHECK_EQ_INT(config_prod_check(&c), -1); /* no client CA */
	CHECK_EQ_INT(set(&c, "RAMP_TLS_CLIENT_CA", "/x/ca.pem"), 0);
	CHECK_EQ_INT(config_prod_check(&c), 0);
	CHECK_EQ_INT(set(&c, "RAMP_DEVICE_AUTH", "maybe"), -1);
	CHECK_EQ_INT(set(&c, "RAMP_PUBLIC_URL", "ftp://x"), -1);
	CHECK_EQ_INT(set(&c, "RAMP_HEADER_TIMEOUT", "0"), -1);
	CHECK_EQ_INT(set(&c, "RAMP_HEADER_TIMEOUT", "15s"), 0);
	CHECK_EQ_INT(c.header_timeout_s, 15);
	CHECK_EQ_INT(set(&c, "RAMP_CONN_TIMEOUT", "2m"), 0);
	CHECK_EQ_INT(c.conn_timeout_s, 120);
	CHECK_EQ_INT(set(&c, "RAMP_MAX_CONNECTIONS", "0"), -1);
	CHECK_EQ_INT(set(&c, "RAMP_BODY_TIMEOUT", "0"), -1);
	CHECK_EQ_INT(set(&c, "RAMP_BODY_TIMEOUT", "90s"), 0);
	CHECK_EQ_INT(c.body_timeout_s, 90);
	CHECK_EQ_INT(set(&c, "RAMP_BODY_MIN_RATE", "0"), 0);
	CHECK_EQ_INT(set(&c, "RAMP_BODY_MIN_RATE", "-1"), -1);
	CHECK_EQ_INT(set(&c, "RAMP_BODY_MIN_RATE", "4096"), 0);
	CHECK_EQ_INT(c.body_min_rate, 4096);
}

static void loopback_names_and_ipv6_are_plain_http_footing(void)
{
	static const char *loop[] = {"127.0.0.1", "127.1.2.3", "localhost", "::1"};
	static const char *off[] = {"0.0.0.0", "::", "10.0.0.1", "fe80::1", "localhost.example"};
	struct config c = {0};

	config_prod_defaults(&c);
	for (size_t i = 0; i < sizeof(loop) / sizeof(loop[0]); i++) {
		snprintf(c.listen_host, sizeof(c.listen_host), "%s", loop[i]);
		CHECK_EQ_INT(config_prod_check(&c), 0);
	}
	for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++) {
		snprintf(c.listen_host, sizeof(c.listen_host), "%s", off[i]);
		CHECK_EQ_INT(config_prod_check(&c), -1);
	}
	CHECK_EQ_INT(set(&c, "RAMP_PLAIN_LISTEN", "[::1]:8081"), 0);
	CHECK_EQ_STR(c.plain_host, "::1");
	CHECK_EQ_INT(c.plain_port, 8081);
	CHECK_EQ_INT(set(&c, "RAMP_PLAIN_LISTEN", "::1:8081"), -1);
	CHECK_EQ_INT(set(&c, "RAMP_PLAIN_LISTEN", "[::1:8081"), -1);
}

static const struct unit_case cases[] = {
	UNIT(bucket_allows_its_burst_then_refuses),
	UNIT(bucket_refills_at_its_rate),
	UNIT(retry_after_counts_whole_seconds_to_the_next_request),
	UNIT(buckets_are_per_token_and_per_role),
	UNIT(many_tokens_keep_their_own_state),
	UNIT(rates_parse_with_units_and_bursts),
	UNIT(defaults_come_from_the_settings_table),
	UNIT(settings_are_checked_together),
	UNIT(loopback_names_and_ipv6_are_plain_http_footing),
	{0},
};

UNIT_MAIN(cases)
