/*
 * main.c - rampd: read settings, bring up the database (embedded unless
 * RAMP_DATABASE_URL), migrate, install the admin token, serve HTTP, run the
 * engine, and shut everything down in reverse on SIGTERM/SIGINT.
 */
#include "api/api.h"
#include "auth/auth.h"
#include "app.h"
#include "common/log.h"
#include "common/version.h"
#include "engine/engine.h"
#include "engine/gitops.h"
#include "engine/mqtt.h"
#include "engine/webhooks.h"
#include "engine/deltas.h"
#include "http/http.h"
#include "store/ingest.h"
#include "store/migrate.h"
#include "store/pgembed.h"
#include "store/tzdb.h"

#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static struct app app;
static struct pgembed pg;

static int open_database(void)
{
	const char *conninfo = app.cfg.database_url;
	int rc, tries = 0;

	if (conninfo[0] == '\0') {
		if (pgembed_start(&pg, app.cfg.data_dir, app.cfg.pg_bindir) != 0)
			return -1;
		conninfo = pg.conninfo;
	}
	app.db = db_open(conninfo, app.cfg.db_pool_size);
	if (app.db == NULL)
		return -1;
	/* an external server may still be starting: wait for it, saying so */
	while ((rc = migrate_run(app.db)) == RAMP_EUNAVAIL && tries++ < 60) {
		log_warn("msg=\"waiting for the database\" attempt=%d", tries);
		sleep(1);
	}
	if (rc) {
		log_error("msg=\"could not migrate the database\" error=\"%s\"", ramp_strerror(rc));
		return -1;
	}
	return 0;
}

/* The admin token is printed once, when it was just generated; otherwise
 * where it is, so journald and pod logs never carry it. */
static void print_banner(const char *token, int generated)
{
	printf("rampd listening on %s\n", app.server_url);
	if (generated)
		printf("admin token (generated, shown once): %s\n"
		       "try: curl -H \"Authorization: Bearer %s\" %s/v1/devices\n",
		       token, token, app.server_url);
	else if (app.cfg.admin_token[0])
		printf("admin token: %s\n", token);
	else
		printf("admin token: in %s\n"
		       "try: curl -H \"Authorization: Bearer $(cat %s)\" %s/v1/devices\n",
		       token, token, app.server_url);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	sigset_t set;
	char token[300];
	int sig = 0, status = 1, generated = 0;

	if (argc == 2 && strcmp(argv[1], "--version") == 0)
		return version_print("rampd");
	if (config_load(&app.cfg, argc, argv) != 0)
		return 2;
	/* dozens of threads each growing a malloc arena of their own cost far
	 * more resident memory than lock contention on a few */
	mallopt(M_ARENA_MAX, 4);
	/* every thread inherits the mask; main waits for the signals below */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (open_database() != 0 || auth_bootstrap(&app, token, sizeof(token), &generated) != 0)
		goto out;
	if (app.cfg.public_url[0])
		snprintf(app.server_url, sizeof(app.server_url), "%s", app.cfg.public_url);
	else {
		const char *h = app.cfg.listen_host;
		bool v6 = strchr(h, ':') != NULL;
		if (strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0)
			h = v6 ? "::1" : "127.0.0.1";
		snprintf(app.server_url, sizeof(app.server_url), "%s://%s%s%s:%d",
			 app.cfg.tls_cert[0] ? "https" : "http", v6 ? "[" : "", h, v6 ? "]" : "",
			 app.cfg.listen_port);
	}
	if (ingest_start(&app) != 0)
		goto out;
	if (engine_start(&app) != 0 || webhooks_start(&app) != 0 || deltas_start(&app) != 0 ||
	    gitops_start(&app) != 0)
		goto out_engine;
	if (http_start(&app, api_routes, app.cfg.listen_host, app.cfg.listen_port, app.cfg.http_threads) != 0)
		goto out_engine;
	if (mqtt_start(&app, api_telemetry_mqtt) != 0) {
		log_error("msg=\"could not start the MQTT client\"");
		http_stop();
		goto out_engine;
	}
	tzdb_startup_check(); /* windows in a zone need tzdata */
	log_info("msg=\"rampd ready\" url=%s data_dir=%s database=%s", app.server_url,
		 app.cfg.data_dir, app.cfg.database_url[0] ? "external" : "embedded");
	print_banner(token, generated);
	do {
		if (sigwait(&set, &sig) != 0)
			break;
	} while (sig == SIGHUP);
	log_info("msg=\"shutting down\" signal=%d", sig);
	mqtt_stop(); /* waits for its messages' commits: acknowledged only after them */
	ingest_stop(); /* commits what is queued and answers it: no request stays parked */
	http_stop();
	status = 0;
out_engine:
	deltas_stop();
	gitops_stop();
	webhooks_stop();
	engine_stop(&app);
out:
	ingest_stop();
	if (app.db)
		db_close(app.db);
	pgembed_stop(&pg);
	return status;
}
