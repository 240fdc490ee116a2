/*
 * config.h - rampd's settings: environment first (DESIGN.md
 * "Configuration"), then command-line flags override.
 */
#ifndef RAMP_CONFIG_H
#define RAMP_CONFIG_H

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
	int64_t telemetry_retention_s;
	char pg_bindir[PATH_MAX]; /* empty: found at start-up */
	int access_log;
	int64_t artifact_max; /* bytes; PUT /v1/artifacts above it gets 413 */
	char hawkbit_tenant[64];   /* the {tenant} of DDI paths (docs/hawkbit.md) */
	char hawkbit_platform[64]; /* platform of devices a DDI gateway enrolls */
};

/* Fills c from the environment and argv. 0, or -1 after printing why to stderr. */
int config_load(struct config *c, int argc, char **argv);

#endif
