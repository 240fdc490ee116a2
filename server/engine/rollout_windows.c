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
static int list_window(const struct window_list *l, int k, int64_t now, int64_t *open)
{
	int64_t close;
	int rc;

	if (l == NULL || l->n == 0)
		return RAMP_ENOTFOUND;
	rc = window_next(l, tzdb_resolve, NULL, now, open, &close);
	if (rc == RAMP_EINVAL)
		log_warn("msg=\"maintenance window zone not found; the stage does not wait\" stage=%d", k);
	return rc;
}

/* With label_windows, a stage is closed while any of its groups (the
 * stage's own windows, each ramp.window value's) is: *open is then the
 * earliest of their next openings. */
int rollout_stage_window(const struct policy *p, int k, int64_t now, int64_t *open)
{
	int64_t o, soonest = 0;
	bool any = false;

	if (k < 0 || (size_t)k >= p->nstages)
		return RAMP_ENOTFOUND;
	if (p->nlabel_windows == 0)
		return list_window(&p->stages[k].windows, k, now, open);
	for (size_t g = 0; g <= p->nlabel_windows; g++) {
		const struct window_list *l = g == 0 ? &p->stages[k].windows
						     : &p->label_windows[g - 1].windows;
		if (list_window(l, k, now, &o) != 0)
			continue; /* no windows: never closed */
		any = true;
		if (o > now && (soonest == 0 || o < soonest))
			soonest = o;
	}
	if (!any)
		return RAMP_ENOTFOUND;
	*open = soonest ? soonest : now;
	return 0;
}

/* label_windows: the held devices of the groups whose windows are open
 * go; the others are told their group's next opening (window_opens_by). */
static void release_groups(struct app *app, int64_t id, const struct policy *p, int stage,
			   int64_t now)
{
	const char *values[POLICY_MAX_LABEL_WINDOWS], *open_values[POLICY_MAX_LABEL_WINDOWS];
	size_t nopen = 0;
	int64_t o, soonest = 0;
	bool default_open = true, moved = false;
	json_t *opens = json_object();
	struct strlist ids = {0};

	if (opens == NULL)
		return;
	for (size_t g = 0; g <= p->nlabel_windows; g++) {
		const char *v = g == 0 ? "" : p->label_windows[g - 1].value;
		const struct window_list *l = g == 0 ? &p->stages[stage].windows
						     : &p->label_windows[g - 1].windows;
		bool closed = list_window(l, stage, now, &o) == 0 && o > now;
		if (g > 0)
			values[g - 1] = v;
		if (g == 0)
			default_open = !closed;
		else if (!closed)
			open_values[nopen++] = v;
		if (closed) {
			json_object_set_new(opens, v, json_integer(o));
			soonest = soonest == 0 || o < soonest ? o : soonest;
		}
	}
	if (store_rollout_release_groups(app->db, id, values, p->nlabel_windows, open_values, nopen,
					 default_open, soonest, opens, &ids, &moved) == 0) {
		if (ids.n > 0)
			log_info("msg=\"maintenance window open: devices released\" rollout=%lld"
				 " devices=%zu", (long long)id, ids.n);
		if (ids.n > 0 || moved)
			changed_rollout(app, id, (const char *const *)ids.v, ids.n);
	}
	strlist_free(&ids);
	json_decref(opens);
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
	if (p->nlabel_windows > 0 && stage >= 0 && (size_t)stage < p->nstages) {
		release_groups(app, id, p, stage, now);
		return;
	}
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
