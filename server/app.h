/*
 * app.h - the process-wide context handed to every handler: settings,
 * the database pool, and the figures /metrics exports. One per rampd.
 */
#ifndef RAMP_APP_H
#define RAMP_APP_H

#include "config.h"
#include "store/db.h"

#include <stdatomic.h>

struct engine;
struct snapshot;

struct app {
	struct config cfg;
	struct db *db;
	struct engine *engine;
	struct snapshot *snap;
	char server_url[128]; /* how devices reach us, for artifact URLs */
	atomic_int ready;     /* schema current at last check */
};

#endif
