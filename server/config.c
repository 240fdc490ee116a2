/*
 * config.c - reads RAMP_* variables and flags into struct config.
 */
#include "config.h"

#include "domain/units.h"
#include "store/ingest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* "host:port", "[v6]:port" or ":port" / "*:port" (all IPv4 addresses); the
 * brackets of an IPv6 literal are dropped from listen_host. */
static int parse_listen(struct config *c, const char *v)
{
	const char *colon = strrchr(v, ':'), *host = v;
	size_t hlen;
	char *end;
	long port;

	if (colon == NULL)
		return -1;
	hlen = (size_t)(colon - v);
	if (v[0] == '[') {
		if (hlen < 3 || v[hlen - 1] != ']')
			return -1;
		host = v + 1;
		hlen -= 2;
	} else if (memchr(v, ':', hlen)) {
		return -1; /* an IPv6 literal needs its brackets */
	}
	if (hlen >= sizeof(c->listen_host))
		return -1;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || port < 0 || port > 65535)
		return -1;
	memcpy(c->listen_host, host, hlen);
	c->listen_host[hlen] = '\0';
	if (c->listen_host[0] == '\0' || strcmp(c->listen_host, "*") == 0)
		snprintf(c->listen_host, sizeof(c->listen_host), "0.0.0.0");
	c->listen_port = (int)port;
	return 0;
}

static int parse_secs(const char *v, int64_t min, int64_t *out)
{
	int64_t s;

	if (units_parse_duration(v, &s) != 0 || s < min)
		return -1;
	*out = s;
	return 0;
}

static int parse_int(const char *v, int min, int max, int *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || end == v || n < min || n > max)
		return -1;
	*out = (int)n;
	return 0;
}

/* Bytes, with an optional binary suffix: 1048576, 512M, 2G, 2GiB, 64k. */
static int parse_size(const char *v, int64_t *out)
{
	static const struct {
		const char *suffix;
		int shift;
	} units[] = {{"", 0},	 {"k", 10},   {"K", 10},   {"KiB", 10}, {"M", 20},
		     {"MiB", 20}, {"G", 30}, {"GiB", 30}, {"T", 40},   {"TiB", 40}};
	char *end;
	long long n;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno || end == v || n < 1)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].suffix) == 0) {
			if (n > (INT64_MAX >> units[i].shift))
				return -1;
			*out = (int64_t)n << units[i].shift;
			return 0;
		}
	return -1;
}

#define LOWER_WORD "abcdefghijklmnopqrstuvwxyz0123456789.-"
#define ANY_WORD "ABCDEFGHIJKLMNOPQRSTUVWXYZ_" LOWER_WORD

/* A name of 1 to len - 1 characters of charset, not starting with punctuation. */
static int parse_word(const char *v, const char *charset, char *out, size_t len)
{
	size_t n = strlen(v);

	if (n == 0 || n >= len || strspn(v, charset) != n || strchr("_.-", v[0]))
		return -1;
	memcpy(out, v, n + 1);
	return 0;
}

/* Applies one setting by its environment name; -1 when the value is bad. */
static int config_set(struct config *c, const char *name, const char *v)
{
	int64_t s;

	if (strcmp(name, "RAMP_LISTEN") == 0)
		return parse_listen(c, v);
	if (strcmp(name, "RAMP_DATABASE_URL") == 0)
		return snprintf(c->database_url, sizeof(c->database_url), "%s", v) <
		       (int)sizeof(c->database_url) ? 0 : -1;
	if (strcmp(name, "RAMP_DATA_DIR") == 0)
		return snprintf(c->data_dir, sizeof(c->data_dir), "%s", v) <
		       (int)sizeof(c->data_dir) ? 0 : -1;
	if (strcmp(name, "RAMP_ADMIN_TOKEN") == 0)
		return snprintf(c->admin_token, sizeof(c->admin_token), "%s", v) <
		       (int)sizeof(c->admin_token) ? 0 : -1;
	if (strcmp(name, "RAMP_EVAL_INTERVAL") == 0) {
		if (parse_secs(v, 1, &s) != 0 || s > 3600)
			return -1;
		c->eval_interval_s = (int)s;
		return 0;
	}
	if (strcmp(name, "RAMP_POLL_INTERVAL") == 0) {
		if (parse_secs(v, 1, &s) != 0 || s > 86400)
			return -1;
		c->poll_interval_s = (int)s;
		return 0;
	}
	if (strcmp(name, "RAMP_TELEMETRY_RETENTION") == 0)
		return parse_secs(v, 3600, &c->telemetry_retention_s);
	if (strcmp(name, "RAMP_HTTP_THREADS") == 0)
		return parse_int(v, 1, 256, &c->http_threads);
	if (strcmp(name, "RAMP_WORKERS") == 0)
		return parse_int(v, 1, 1024, &c->workers);
	if (strcmp(name, "RAMP_DB_POOL") == 0)
		return parse_int(v, 1, 256, &c->db_pool_size);
	if (strcmp(name, "RAMP_INGEST_QUEUE") == 0)
		return parse_int(v, 1, 10000000, &c->ingest_queue);
	if (strcmp(name, "RAMP_PG_BINDIR") == 0)
		return snprintf(c->pg_bindir, sizeof(c->pg_bindir), "%s", v) <
		       (int)sizeof(c->pg_bindir) ? 0 : -1;
	if (strcmp(name, "RAMP_ACCESS_LOG") == 0)
		return parse_int(v, 0, 1, &c->access_log);
	if (strcmp(name, "RAMP_ARTIFACT_MAX") == 0)
		return parse_size(v, &c->artifact_max);
	if (strcmp(name, "RAMP_HAWKBIT_TENANT") == 0)
		return parse_word(v, ANY_WORD, c->hawkbit_tenant, sizeof(c->hawkbit_tenant));
	if (strcmp(name, "RAMP_HAWKBIT_PLATFORM") == 0)
		return parse_word(v, LOWER_WORD, c->hawkbit_platform, sizeof(c->hawkbit_platform));
	return config_prod_set(c, name, v);
}

static const char *const settings[] = {
	"RAMP_LISTEN", "RAMP_DATABASE_URL", "RAMP_DATA_DIR", "RAMP_ADMIN_TOKEN",
	"RAMP_EVAL_INTERVAL", "RAMP_POLL_INTERVAL", "RAMP_TELEMETRY_RETENTION",
	"RAMP_HTTP_THREADS", "RAMP_WORKERS", "RAMP_DB_POOL", "RAMP_INGEST_QUEUE", "RAMP_PG_BINDIR",
	"RAMP_ACCESS_LOG", "RAMP_ARTIFACT_MAX", "RAMP_HAWKBIT_TENANT", "RAMP_HAWKBIT_PLATFORM",
};

static void usage(void)
{
	fprintf(stderr,
		"usage: rampd [--listen host:port] [--database-url conninfo] [--data-dir dir]\n"
		"             [--admin-token tok] [--eval-interval dur] [--poll-interval dur]\n"
		"             [--telemetry-retention dur] [--http-threads n] [--db-pool n]\n"
		"             [--artifact-max bytes]\n"
		"       rampd --version\n"
		"every flag has an environment twin: --data-dir is RAMP_DATA_DIR, and so on\n");
}

/* "--eval-interval" -> "RAMP_EVAL_INTERVAL" */
static void flag_to_env(const char *flag, char *out, size_t len)
{
	size_t i = 0;
	int n = snprintf(out, len, "RAMP_");

	for (; flag[i] && (size_t)n + i + 1 < len; i++)
		out[n + i] = flag[i] == '-' ? '_' : (char)(flag[i] & ~0x20);
	out[n + i] = '\0';
}

int config_load(struct config *c, int argc, char **argv)
{
	memset(c, 0, sizeof(*c));
	parse_listen(c, "127.0.0.1:8080");
	snprintf(c->data_dir, sizeof(c->data_dir), "./var");
	c->eval_interval_s = 10;
	c->poll_interval_s = 30;
	{
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		c->http_threads = ncpu > 0 ? (int)ncpu : 2;
	}
	c->workers = 32;
	c->db_pool_size = 16;
	c->ingest_queue = INGEST_QUEUE_DEFAULT;
	c->telemetry_retention_s = 14 * 86400;
	c->artifact_max = (int64_t)2 << 30;
	snprintf(c->hawkbit_tenant, sizeof(c->hawkbit_tenant), "DEFAULT");
	snprintf(c->hawkbit_platform, sizeof(c->hawkbit_platform), "linux");
	config_prod_defaults(c);
	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
		const char *v = getenv(settings[i]);
		if (v && *v && config_set(c, settings[i], v) != 0) {
			fprintf(stderr, "rampd: invalid %s: %s\n", settings[i], v);
			return -1;
		}
	}
	for (size_t i = 0; config_prod_settings[i]; i++) {
		const char *v = getenv(config_prod_settings[i]);
		if (v && *v && config_set(c, config_prod_settings[i], v) != 0) {
			fprintf(stderr, "rampd: invalid %s: %s\n", config_prod_settings[i], v);
			return -1;
		}
	}
	for (int i = 1; i < argc; i++) {
		char env[64];
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0 ||
		    strncmp(argv[i], "--", 2) != 0 || i + 1 >= argc) {
			usage();
			return -1;
		}
		flag_to_env(argv[i] + 2, env, sizeof(env));
		if (config_set(c, env, argv[i + 1]) != 0) {
			fprintf(stderr, "rampd: invalid %s %s\n", argv[i], argv[i + 1]);
			usage();
			return -1;
		}
		i++;
	}
	return config_prod_check(c);
}
