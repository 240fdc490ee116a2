/*
 * notify.c - placeholder for the snapshot engine's change hook.
 */
#include "engine/notify.h"

/* the snapshot engine replaces this */
__attribute__((weak)) void snapshot_changed(struct app *app)
{
	(void)app;
}
