/*
 * config.c - reads RAMP_* variables and flags into struct config.
 */
#include "config.h"

#include "domain/mqtt_url.h"
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
	int64_t port;

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
	if (units_parse_int(colon + 1, 0, 65535, &port) != 0)
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
	int64_t n;

	if (units_parse_int(v, min, max, &n) != 0)
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

static int set_str(char *dst, size_t len, const char *v)
{
	return snprintf(dst, len, "%s", v) < (int)len ? 0 : -1;
}

/* One setter per setting: 0, or -1 when v is bad. */
#define STR_SETTER(field)                                                      \
	static int set_##field(struct config *c, const char *v)                \
	{                                                                      \
		return set_str(c->field, sizeof(c->field), v);                 \
	}
#define INT_SETTER(field, min, max)                                            \
	static int set_##field(struct config *c, const char *v)                \
	{                                                                      \
		return parse_int(v, min, max, &c->field);                      \
	}
#define SECS_SETTER(field, min, max)                                           \
	static int set_##field(struct config *c, const char *v)                \
	{                                                                      \
		int64_t s;                                                     \
		if (parse_secs(v, min, &s) != 0 || s > (max))                  \
			return -1;                                             \
		c->field = s;                                                  \
		return 0;                                                      \
	}
STR_SETTER(database_url)
STR_SETTER(data_dir)
STR_SETTER(admin_token)
STR_SETTER(pg_bindir)
STR_SETTER(prom_secrets_dir)
SECS_SETTER(eval_interval_s, 1, 3600)
SECS_SETTER(poll_interval_s, 1, 86400)
SECS_SETTER(telemetry_retention_s, 3600, INT64_MAX)
INT_SETTER(http_threads, 1, 256)
INT_SETTER(workers, 1, 1024)
INT_SETTER(db_pool_size, 1, 256)
INT_SETTER(ingest_queue, 1, 10000000)
INT_SETTER(otlp_streams_max, 1, 100000000)
SECS_SETTER(otlp_stream_ttl_s, 1, 30 * 86400)
INT_SETTER(access_log, 0, 1)
SECS_SETTER(tuf_timestamp_ttl_s, 10, 365 * 86400)
INT_SETTER(delta_build, 0, 1)
INT_SETTER(delta_level, 1, 19)
INT_SETTER(delta_window_log, 10, 31)
SECS_SETTER(delta_interval_s, 1, 86400)
SECS_SETTER(delta_retention_s, 0, INT64_MAX)
SECS_SETTER(delta_retry_s, 1, 604800)

static int set_delta_max(struct config *c, const char *v)
{
	return parse_size(v, &c->delta_max);
}
STR_SETTER(gitops_repo)
STR_SETTER(gitops_branch)
STR_SETTER(gitops_path)
SECS_SETTER(gitops_interval_s, 1, 86400)
STR_SETTER(gitops_token_file)
STR_SETTER(gitops_ssh_key)
STR_SETTER(gitops_webhook_secret)
STR_SETTER(gitops_webhook_secret_file)
INT_SETTER(gitops_self_heal, 0, 1)
STR_SETTER(gitops_allowed_signers)

static int set_artifact_max(struct config *c, const char *v)
{
	return parse_size(v, &c->artifact_max);
}

static int set_hawkbit_tenant(struct config *c, const char *v)
{
	return parse_word(v, ANY_WORD, c->hawkbit_tenant, sizeof(c->hawkbit_tenant));
}

static int set_artifact_store(struct config *c, const char *v)
{
	if (strcmp(v, "database") == 0)
		c->artifacts_in_db = 1;
	else if (strcmp(v, "disk") == 0)
		c->artifacts_in_db = 0;
	else
		return -1;
	return 0;
}

static int set_hawkbit_platform(struct config *c, const char *v)
{
	return parse_word(v, LOWER_WORD, c->hawkbit_platform, sizeof(c->hawkbit_platform));
}

/* MQTT (docs/mqtt.md) */
STR_SETTER(mqtt_ca)
STR_SETTER(mqtt_cert)
STR_SETTER(mqtt_key)
STR_SETTER(mqtt_password_file)
SECS_SETTER(mqtt_session_expiry_s, 0, 4294967295LL)
INT_SETTER(mqtt_publish_rate, 1, 10000000)
SECS_SETTER(mqtt_key_keep_s, 1, INT64_MAX)
SECS_SETTER(mqtt_prune_interval_s, 1, 86400)

static int set_mqtt_url(struct config *c, const char *v)
{
	struct mqtt_url u;

	return mqtt_url_parse(v, &u) == 0 ? set_str(c->mqtt_url, sizeof(c->mqtt_url), v) : -1;
}

static int set_mqtt_client_id(struct config *c, const char *v)
{
	return parse_word(v, ANY_WORD, c->mqtt_client_id, sizeof(c->mqtt_client_id));
}

#define STR_(x) #x
#define XSTR_(x) STR_(x)

/*
 * rampd's settings: X(NAME, setter, default). Each is the variable
 * RAMP_<NAME> and the flag --<name> (lower case, '-' for '_'); default is
 * the text applied before the environment is read, NULL for none (zero,
 * or computed in config_load()). The production settings are
 * config_prod.c's table; a name neither knows is refused.
 */
#define CONFIG_SETTINGS(X)                                                     \
	X(LISTEN, parse_listen, "127.0.0.1:8080")                              \
	X(DATABASE_URL, set_database_url, NULL)                                \
	X(DATA_DIR, set_data_dir, "./var")                                     \
	X(ADMIN_TOKEN, set_admin_token, NULL)                                  \
	X(EVAL_INTERVAL, set_eval_interval_s, "10")                            \
	X(POLL_INTERVAL, set_poll_interval_s, "30")                            \
	X(TELEMETRY_RETENTION, set_telemetry_retention_s, "14d")               \
	X(HTTP_THREADS, set_http_threads, NULL) /* the CPUs online */          \
	X(WORKERS, set_workers, "32")                                          \
	X(DB_POOL, set_db_pool_size, "16")                                     \
	X(INGEST_QUEUE, set_ingest_queue, XSTR_(INGEST_QUEUE_DEFAULT))         \
	X(PG_BINDIR, set_pg_bindir, NULL)                                      \
	X(ACCESS_LOG, set_access_log, NULL)                                    \
	X(ARTIFACT_MAX, set_artifact_max, "2G")                                \
	X(ARTIFACT_STORE, set_artifact_store, NULL) /* external db: database */ \
	X(HAWKBIT_TENANT, set_hawkbit_tenant, "DEFAULT")                       \
	X(HAWKBIT_PLATFORM, set_hawkbit_platform, "linux")                     \
	X(PROM_SECRETS_DIR, set_prom_secrets_dir, NULL)                        \
	X(OTLP_STREAM_TTL, set_otlp_stream_ttl_s, "1h")                        \
	X(OTLP_STREAMS_MAX, set_otlp_streams_max, "100000")                    \
	X(TUF_TIMESTAMP_EXPIRES, set_tuf_timestamp_ttl_s, "1d")                \
	X(DELTA_BUILD, set_delta_build, "1")                                   \
	X(DELTA_LEVEL, set_delta_level, "3")                                   \
	X(DELTA_WINDOW_LOG, set_delta_window_log, "28")                        \
	X(DELTA_MAX, set_delta_max, "512M")                                    \
	X(DELTA_INTERVAL, set_delta_interval_s, "10")                                \
	X(DELTA_RETENTION, set_delta_retention_s, "7d")                        \
	X(DELTA_RETRY, set_delta_retry_s, "1h")                                \
	X(GITOPS_REPO, set_gitops_repo, NULL)                                  \
	X(GITOPS_BRANCH, set_gitops_branch, "main")                            \
	X(GITOPS_PATH, set_gitops_path, "/")                                   \
	X(GITOPS_INTERVAL, set_gitops_interval_s, "60")                        \
	X(GITOPS_TOKEN_FILE, set_gitops_token_file, NULL)                      \
	X(GITOPS_SSH_KEY, set_gitops_ssh_key, NULL)                            \
	X(GITOPS_WEBHOOK_SECRET, set_gitops_webhook_secret, NULL)              \
	X(GITOPS_WEBHOOK_SECRET_FILE, set_gitops_webhook_secret_file, NULL)    \
	X(GITOPS_SELF_HEAL, set_gitops_self_heal, NULL)                        \
	X(GITOPS_ALLOWED_SIGNERS, set_gitops_allowed_signers, NULL)                \
	X(MQTT_URL, set_mqtt_url, NULL)                                        \
	X(MQTT_CA, set_mqtt_ca, NULL)                                          \
	X(MQTT_CERT, set_mqtt_cert, NULL)                                      \
	X(MQTT_KEY, set_mqtt_key, NULL)                                        \
	X(MQTT_PASSWORD_FILE, set_mqtt_password_file, NULL)                    \
	X(MQTT_CLIENT_ID, set_mqtt_client_id, NULL)                            \
	X(MQTT_SESSION_EXPIRY, set_mqtt_session_expiry_s, "7d")                \
	X(MQTT_PUBLISH_RATE, set_mqtt_publish_rate, "20000")                   \
	X(MQTT_KEY_KEEP, set_mqtt_key_keep_s, NULL)                            \
	X(MQTT_PRUNE_INTERVAL, set_mqtt_prune_interval_s, "1h")

static const struct setting {
	const char *name;
	int (*set)(struct config *c, const char *v);
	const char *def;
} settings[] = {
#define SETTING_(N, set, def) {"RAMP_" #N, set, def},
	CONFIG_SETTINGS(SETTING_)
#undef SETTING_
};
#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

/* Applies one setting by its environment name; -1 when the value is bad
 * (or the name unknown). */
static int config_set(struct config *c, const char *name, const char *v)
{
	for (size_t i = 0; i < NSETTINGS; i++)
		if (strcmp(name, settings[i].name) == 0)
			return settings[i].set(c, v) == 0 ? 0 : -1;
	return config_prod_set(c, name, v);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: rampd [--listen host:port] [--database-url conninfo] [--data-dir dir]\n"
		"             [--admin-token tok] [--eval-interval dur] [--poll-interval dur]\n"
		"             [--telemetry-retention dur] [--http-threads n] [--db-pool n]\n"
		"             [--artifact-max bytes] [--artifact-store disk|database]\n"
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
	for (size_t i = 0; i < NSETTINGS; i++)
		if (settings[i].def)
			settings[i].set(c, settings[i].def);
	{
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		c->http_threads = ncpu > 0 ? (int)ncpu : 2;
	}
	config_prod_defaults(c);
	c->artifacts_in_db = -1;
	for (size_t i = 0; i < NSETTINGS; i++) {
		const char *v = getenv(settings[i].name);
		if (v && *v && settings[i].set(c, v) != 0) {
			fprintf(stderr, "rampd: invalid %s: %s\n", settings[i].name, v);
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
	if (c->artifacts_in_db < 0)
		c->artifacts_in_db = c->database_url[0] != '\0';
	return config_prod_check(c);
}
