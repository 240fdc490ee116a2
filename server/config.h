/*
 * config.h - rampd's settings: environment first (DESIGN.md
 * "Configuration"), then command-line flags override.
 */
#ifndef RAMP_CONFIG_H
#define RAMP_CONFIG_H

#include "auth/roles.h"

#include <limits.h>
#include <stdint.h>

struct config {
	char listen_host[64];
	int listen_port;
	char database_url[1024]; /* empty: run the embedded cluster */
	char data_dir[PATH_MAX];
	char admin_token[256];   /* empty: generate into data_dir/admin.token */
	int eval_interval_s;
	int poll_interval_s;
	int http_threads;
	int workers;
	int db_pool_size;
	int ingest_queue; /* telemetry rows queued or committing before 503 */
	int64_t telemetry_retention_s;
	int64_t otlp_stream_ttl_s; /* idle cumulative OTLP streams are evicted after it */
	int otlp_streams_max;	   /* and the least recently seen beyond this many */
	char pg_bindir[PATH_MAX]; /* empty: found at start-up */
	int access_log;
	int64_t artifact_max; /* bytes; PUT /v1/artifacts above it gets 413 */
	int artifacts_in_db;  /* RAMP_ARTIFACT_STORE=database (default with an
				 external database): every replica serves every
				 artifact; 0: the files under data_dir alone */
	/* deltas (docs/deltas.md): the background builder and its caps */
	int delta_build;          /* 0: rampd builds none (CI may still upload) */
	int delta_level;          /* zstd level */
	int delta_window_log;     /* the largest window a delta may need (memory, both sides) */
	int64_t delta_max;        /* old or new artifact over this: no delta built */
	int64_t delta_interval_s; /* how often the builder looks for missing deltas */
	int64_t delta_retention_s; /* an unneeded delta is deleted this long after it became so */
	int64_t delta_retry_s;    /* a failed pair's first wait before it is tried again */
	char hawkbit_tenant[64];   /* the {tenant} of DDI paths (docs/hawkbit.md) */
	char hawkbit_platform[64]; /* platform of devices a DDI gateway enrolls */
	char prom_secrets_dir[PATH_MAX]; /* Prometheus gates' auth files (docs/telemetry.md) */
	int64_t tuf_timestamp_ttl_s; /* lifetime of a TUF timestamp rampd signs (docs/tuf.md) */
	/* GitOps (docs/gitops.md, engine/gitops.c); gitops_repo empty: off */
	char gitops_repo[1024], gitops_branch[256], gitops_path[512];
	int gitops_interval_s;
	char gitops_token_file[PATH_MAX], gitops_ssh_key[PATH_MAX];
	char gitops_webhook_secret[256], gitops_webhook_secret_file[PATH_MAX];
	int gitops_self_heal;
	char gitops_allowed_signers[PATH_MAX];
	/* production footing (docs/security.md): TLS, device certificates,
	 * enrollment, limits; parsed by config_prod.c */
	char tls_cert[PATH_MAX], tls_key[PATH_MAX]; /* both or neither: HTTPS */
	char tls_client_ca[PATH_MAX]; /* CA that issues device certificates */
	int allow_plaintext;          /* plain HTTP beside TLS / off loopback */
	char plain_host[64];          /* RAMP_PLAIN_LISTEN; plain_port 0: none */
	int plain_port;
	char public_url[128];         /* how devices reach us (artifact URLs) */
	int device_auth;              /* CONFIG_DEVICE_AUTH_* */
	char enroll_allowlist[PATH_MAX];
	int enroll_require_cert;
	int conn_timeout_s, header_timeout_s, max_connections;
	int webhook_allow_private;    /* webhooks may target loopback/private/link-local */
	int body_timeout_s; /* RAMP_BODY_TIMEOUT: a request body's total time */
	int body_min_rate;  /* RAMP_BODY_MIN_RATE: bytes/s a body must keep up */
	/* MQTT (docs/mqtt.md): mqtt_url empty, none */
	char mqtt_url[300];
	char mqtt_ca[PATH_MAX], mqtt_cert[PATH_MAX], mqtt_key[PATH_MAX];
	char mqtt_password_file[PATH_MAX]; /* "username:password", first line */
	char mqtt_client_id[128];          /* empty: rampd-<host>-<port> */
	int64_t mqtt_session_expiry_s;
	int mqtt_publish_rate; /* desired-state messages a second at most */
	int64_t mqtt_key_keep_s;       /* 0: the session expiry plus an hour */
	int64_t mqtt_prune_interval_s; /* how often old keys are pruned */
	struct config_rate {
		double per_s, burst; /* per_s 0: unlimited */
	} rate[ROLE_COUNT];          /* by role index (ROLE_INDEX_ADMIN ...) */
};

enum { CONFIG_DEVICE_AUTH_TOKEN, CONFIG_DEVICE_AUTH_CERT, CONFIG_DEVICE_AUTH_BOTH };

/* config_prod.c: sets the defaults of the fields above. */
void config_prod_defaults(struct config *c);
/* Applies one RAMP_* production setting; 0, -1 when the value is bad, -2 when
 * name is not one of them. */
int config_prod_set(struct config *c, const char *name, const char *v);
/* Checks the settings together (TLS files in pairs, plaintext policy); 0, or
 * -1 after printing why to stderr. */
int config_prod_check(const struct config *c);
/* The names config_prod_set knows, NULL-terminated. */
extern const char *const config_prod_settings[];

/* Fills c from the environment and argv. 0, or -1 after printing why to stderr. */
int config_load(struct config *c, int argc, char **argv);

#endif
