/*
 * rollout_windows.c - maintenance windows in the executor (docs/windows.md):
 * the next opening of a stage's windows, releasing held devices when it
 * comes, rollbacks that waited for one, and when the engine's opening timer
 * fires next. Leader only; the window arithmetic is domain/window.c's.
 */
#include "engine/rollout_windows.h"

#include "common/clock.h"
#include "common/log.h"
#include "common/strlist.h"
#include "engine/notify.h"
#include "engine/rollouts.h"
#include "store/store_windows.h"
#include "store/tzdb.h"

#include <time.h>

/* The next window of stage k at now: 0 and *open > now when closed, 0 and
 * *open <= now when open; RAMP_ENOTFOUND when the stage has none (or its
 * zone vanished from the system: then nobody waits). */
int rollout_stage_window(const struct policy *p, int k, int64_t now, int64_t *open)
{
	int64_t close;
	int rc;

	if (k < 0 || (size_t)k >= p->nstages || p->stages[k].windows.n == 0)
		return RAMP_ENOTFOUND;
	rc = window_next(&p->stages[k].windows, tzdb_resolve, NULL, now, open, &close);
	if (rc == RAMP_EINVAL)
		log_warn("msg=\"maintenance window zone not found; the stage does not wait\" stage=%d", k);
	return rc;
}

/* Held devices are released when the current stage's window is open (or
 * it has none); while it is closed they are told its next opening. */
void rollout_window_release(struct app *app, int64_t id, const struct policy *p, int stage,
			   int64_t now)
{
	struct strlist ids = {0};
	int64_t open = 0;
	bool moved = false, any = false;

	for (size_t k = 0; k < p->nstages; k++)
		any |= p->stages[k].windows.n > 0;
	if (!any)
		return; /* a policy without windows never holds anyone: no write per tick */
	if (rollout_stage_window(p, stage, now, &open) == 0 && open > now) {
		if (store_rollout_hold_until(app->db, id, open, &moved) == 0 && moved)
			changed_rollout(app, id, NULL, 0);
		return;
	}
	if (store_rollout_release(app->db, id, &ids) == 0 && ids.n > 0) {
		log_info("msg=\"maintenance window open: devices released\" rollout=%lld devices=%zu",
			 (long long)id, ids.n);
		changed_rollout(app, id, (const char *const *)ids.v, ids.n);
	}
	strlist_free(&ids);
}

void rollouts_windows_tick(struct app *app, int64_t now)
{
	json_t *ids = NULL, *v;
	size_t i;

	if (store_rollouts_reverted(app->db, now, &ids) == 0)
		json_array_foreach(ids, i, v) {
			log_info("msg=\"maintenance window open: rollback reaches its devices\" rollout=%lld",
				 (long long)json_integer_value(v));
			changed_rollout(app, json_integer_value(v), NULL, 0);
		}
	json_decref(ids);
}

int64_t rollouts_next_opening_ms(struct app *app)
{
	int64_t at = 0, ms;

	if (store_next_window_opening(app->db, (int64_t)time(NULL), &at) != 0 || at == 0)
		return -1;
	ms = at * 1000 - clock_wall_ms() + 50; /* a little past its second */
	return ms > 0 ? ms : 0;
}
