/*
 * assets.h - the dashboard's files (the html, js, css and svg in server/ui),
 * compiled into rampd at build time by server/ui/ui.mk so the binary needs
 * no files and no network to serve them. The table is generated as
 * build/gen/ui.c and ends with an entry whose name is NULL.
 */
#ifndef RAMP_UI_ASSETS_H
#define RAMP_UI_ASSETS_H

#include <stddef.h>

struct ui_asset {
	const char *name;  /* file name, e.g. "app.js" */
	const char *ctype; /* Content-Type to serve it with */
	const unsigned char *data;
	size_t len;
};

extern const struct ui_asset ui_assets[];

#endif
