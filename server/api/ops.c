/*
 * ops.c - /healthz, /readyz and /metrics: no token needed.
 */
#include "api/api.h"
#include "common/version.h"
#include "engine/deltas.h"
#include "engine/engine.h"
#include "engine/gitops.h"
#include "engine/mqtt.h"

#include "store/ingest.h"
#include "store/migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void api_healthz(struct req *r)
{
	http_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

void api_readyz(struct req *r)
{
	int rc = migrate_check(r->app->db);
	const char *mqtt;

	/* a broker down is reported, not fatal: HTTP serves on without it */
	mqtt_ready(&mqtt);
	if (rc == 0) {
		const char *proto = mqtt_protocol();
		json_t *j = json_pack("{s:s, s:s}", "status", "ready", "mqtt", mqtt);
		if (j && proto)
			json_object_set_new(j, "mqtt_protocol", json_string(proto));
		http_reply_json(r, 200, j);
		return;
	}
	http_add_header(r, "Retry-After", "1");
	http_reply_json(r, 503, json_pack("{s:s, s:s}", "status", "not ready", "reason",
					  rc == RAMP_EUNAVAIL ? "database unreachable"
							      : "schema not current"));
}

void api_metrics(struct req *r)
{
	struct db_stats s;
	char *http = http_metrics_text(r->arena), *ingest = ingest_metrics_text(r->arena), *out;
	char *rollouts = engine_metrics_text(r->arena);
	char *limits = http_limits_metrics_text(r->arena), *deltas;
	char *otlp = api_otlp_metrics_text(r->arena);
	char *gitops = gitops_metrics_text(r->arena);
	char *mqtt = mqtt_metrics_text(r->arena);

	if (http == NULL || ingest == NULL || rollouts == NULL || limits == NULL || otlp == NULL ||
	    gitops == NULL || mqtt == NULL) {
		/* a section could not be written: fail the scrape, never serve it short */
		http_reply_err(r, RAMP_ENOMEM, NULL);
		return;
	}
	db_get_stats(r->app->db, &s);
	out = arena_printf(r->arena,
			   "%s"
			   "# HELP ramp_db_pool_connections Connections in the database pool.\n"
			   "# TYPE ramp_db_pool_connections gauge\n"
			   "ramp_db_pool_connections %d\n"
			   "# HELP ramp_db_pool_in_use Connections currently borrowed.\n"
			   "# TYPE ramp_db_pool_in_use gauge\n"
			   "ramp_db_pool_in_use %d\n"
			   "# HELP ramp_db_pool_acquired_total Connections borrowed from the pool.\n"
			   "# TYPE ramp_db_pool_acquired_total counter\n"
			   "ramp_db_pool_acquired_total %llu\n"
			   "# HELP ramp_db_pool_waits_total Borrows that had to wait for a free connection.\n"
			   "# TYPE ramp_db_pool_waits_total counter\n"
			   "ramp_db_pool_waits_total %llu\n"
			   "# HELP ramp_db_connects_total Connections (re)established.\n"
			   "# TYPE ramp_db_connects_total counter\n"
			   "ramp_db_connects_total %llu\n"
			   "# HELP ramp_db_up Whether the database answered the last borrow.\n"
			   "# TYPE ramp_db_up gauge\n"
			   "ramp_db_up %d\n"
			   "# HELP ramp_build_info The version and git commit rampd was built from.\n"
			   "# TYPE ramp_build_info gauge\n"
			   "ramp_build_info{version=\"%s\",commit=\"%s\"} 1\n"
			   "%s%s%s%s%s%s",
			   http, s.size, s.in_use, (unsigned long long)s.acquired,
			   (unsigned long long)s.waits, (unsigned long long)s.reconnects, s.up,
			   ramp_version, ramp_commit,
			   ingest, rollouts, limits, otlp, gitops, mqtt);
	if (out == NULL) {
		http_reply_err(r, RAMP_ENOMEM, NULL);
		return;
	}
	deltas = deltas_metrics_text(r->arena);
	if (deltas == NULL || (out = arena_printf(r->arena, "%s%s", out, deltas)) == NULL) {
		http_reply_err(r, RAMP_ENOMEM, NULL);
		return;
	}
	http_reply_text(r, 200, "text/plain; version=0.0.4", strdup(out), strlen(out));
}
