/*
 * app.h - the process-wide context handed to every handler: settings,
 * the database pool, the engine (NULL until it runs) and the URL devices
 * reach us by. One per rampd, filled by main.c before anything starts.
 */
#ifndef RAMP_APP_H
#define RAMP_APP_H

#include "config.h"
#include "store/db.h"

struct engine;

struct app {
	struct config cfg;
	struct db *db;
	struct engine *engine;
	char server_url[128]; /* how devices reach us, for artifact URLs */
};

#endif
