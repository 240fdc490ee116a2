/*
 * rollouts.c - the executor between the pure state machine and the store.
 *
 * Every change is computed from a loaded row and written guarded by its
 * rev; when another writer got there first we reload and decide again (a
 * verb) or leave it to the next tick (an evaluation).
 */
#include "engine/rollouts.h"

#include "common/clock.h"
#include "common/log.h"
#include "common/strlist.h"
#include "common/strmap.h"
#include "domain/bucket.h"
#include "domain/selector.h"
#include "engine/analysis.h"
#include "engine/members.h"
#include "engine/notify.h"
#include "engine/rollout_windows.h"
#include "snapshot/snapshot.h"
#include "store/store.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stdbool.h>

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

static int row_state(const struct rollout_row *row, struct rollout_state *st)
{
	int ph = rollout_phase_from_name(row->state);

	if (ph < 0)
		return RAMP_EINTERNAL;
	st->phase = (enum rollout_phase)ph;
	st->stage = row->stage;
	st->stage_started_at = row->stage_started_at;
	st->window_ends_at = row->window_ends_at;
	st->failing = row->failing;
	st->paused_at = row->paused_at;
	st->inconclusive_extensions = row->extensions;
	return 0;
}

/* Device ids as the store streams them: kept in order (a list) or in a set. */
static int to_list(void *ctx, const char *id)
{
	return strlist_push(ctx, id);
}

static int to_set(void *ctx, const char *id)
{
	return strmap_set(ctx, id, (void *)1);
}

/* Calls each() with the ids eligible for a stage (with its cohort), or for
 * the whole target when stage < 0; among only[0..n) when only is not NULL. */
static int eligible_among(struct app *app, const struct rollout_row *row,
			  const struct policy *p, int stage, const char *const *only, size_t n,
			  int (*each)(void *ctx, const char *id), void *ctx)
{
	struct selector *sel = NULL, *coh = NULL;
	struct ramp_err err;
	char ctext[4200];
	int rc = selector_parse(row->selector, &sel, &err);

	if (rc == 0 && stage >= 0 && p->stages[stage].cohort[0]) {
		rc = store_cohort_selector(app->db, p->stages[stage].cohort, ctext, sizeof(ctext));
		if (rc == RAMP_ENOTFOUND) {
			/* a cohort deleted mid-rollout takes nobody new */
			selector_free(sel);
			return 0;
		}
		if (rc == 0)
			rc = selector_parse(ctext, &coh, &err);
	}
	if (rc == 0)
		rc = store_rollout_eligible(app->db, row->model, row->version, sel, coh, only, n,
					    each, ctx);
	selector_free(sel);
	selector_free(coh);
	return rc;
}

static int eligible(struct app *app, const struct rollout_row *row, const struct policy *p,
		    int stage, int (*each)(void *ctx, const char *id), void *ctx)
{
	return eligible_among(app, row, p, stage, NULL, 0, each, ctx);
}

/* The ordered first ceil(size x eligible) of stage k: *ids (owned by *all). */
static int stage_members(struct app *app, const struct rollout_row *row, const struct policy *p,
			 int k, struct strlist *all, const char ***ids, size_t *n)
{
	struct bucket_entry *e;
	size_t cnt, i;
	int rc = eligible(app, row, p, k, to_list, all);

	*ids = NULL;
	*n = 0;
	if (rc)
		return rc;
	cnt = all->n;
	e = calloc(cnt ? cnt : 1, sizeof(*e));
	*ids = calloc(cnt ? cnt : 1, sizeof(**ids));
	if (e == NULL || *ids == NULL) {
		free(e);
		return RAMP_ENOMEM;
	}
	for (i = 0; i < cnt; i++)
		e[i].device_id = all->v[i];
	bucket_order(row->id, e, cnt);
	*n = bucket_stage_count(p->stages[k].size, cnt);
	for (i = 0; i < *n; i++)
		(*ids)[i] = e[i].device_id;
	free(e);
	return 0;
}

/* --- maintenance windows (docs/windows.md) --- */

/* Devices stage k takes while its windows are closed are held until one
 * opens; the stage's validation window then starts at that opening, so a
 * verdict never counts time in which its devices could not update. A
 * rollback that respects windows sends its devices back at the next one. */
struct plan {
	struct rollout_write w;
	json_t *events;
	struct strlist members;
	const char **ids;
};

static void plan_clear(struct plan *pl)
{
	json_decref(pl->events);
	strlist_free(&pl->members);
	free(pl->ids);
}

/* Turns next state + actions into a write. assign_current: top up the current stage. */
static int plan_build(struct app *app, const struct rollout_row *row, const struct policy *p,
		      const struct rollout_state *next, const struct rollout_actions *acts,
		      const char *actor, bool topup, struct plan *pl)
{
	int assign = -1;

	memset(pl, 0, sizeof(*pl));
	pl->events = json_array();
	pl->w.id = row->id;
	pl->w.rev = row->rev;
	pl->w.state = rollout_phase_name(next->phase);
	pl->w.stage = next->stage;
	pl->w.failing = next->failing;
	pl->w.extensions = next->inconclusive_extensions;
	pl->w.stage_started_at = next->stage_started_at;
	pl->w.window_ends_at = next->window_ends_at;
	pl->w.paused_at = next->paused_at;
	pl->w.finished = rollout_phase_is_terminal(next->phase);
	pl->w.actor = actor ? actor : "system";
	pl->w.assign_stage = -1;
	pl->w.target_count = -1;
	for (size_t i = 0; i < acts->n; i++) {
		const struct rollout_action *a = &acts->a[i];
		if (a->type == ACTION_ASSIGN_STAGE)
			assign = a->stage;
		else if (a->type == ACTION_SET_STABLE)
			pl->w.set_stable = true;
		else if (a->type == ACTION_EVENT)
			json_array_append_new(pl->events, json_pack("{s:s, s:s}", "type", a->event,
								     "detail", a->detail));
	}
	pl->w.events = pl->events;
	if (next->phase == ROLLOUT_ROLLED_BACK && p->rollback_respects_windows) {
		int64_t open;
		if (rollout_stage_window(p, next->stage, now_s(), &open) == 0 && open > now_s())
			pl->w.window_opens_at = open; /* its devices go back then */
	}
	if (assign >= 0) { /* entering a stage whose windows are closed */
		int64_t open;
		if (rollout_stage_window(p, assign, now_s(), &open) == 0 && open > now_s()) {
			pl->w.assign_held = true;
			pl->w.window_opens_at = open;
			if (open + p->stages[assign].window_s > pl->w.window_ends_at)
				pl->w.window_ends_at = open + p->stages[assign].window_s;
		}
	}
	if (assign < 0 && next->phase == ROLLOUT_PROGRESSING && topup) {
		int64_t open;
		assign = next->stage; /* devices enrolled since join the current stage */
		if (rollout_stage_window(p, assign, now_s(), &open) == 0 && open > now_s()) {
			pl->w.assign_held = true; /* and wait for its window too */
			pl->w.window_opens_at = open;
		}
	}
	if (assign >= 0) {
		int rc = (strata_wanted(p, assign) ? members_stratified : stage_members)(
			app, row, p, assign, &pl->members, &pl->ids, &pl->w.nassign);
		if (rc)
			return rc;
		pl->w.assign_stage = assign;
		pl->w.assign_ids = pl->ids;
	}
	return 0;
}

/* The snapshot after a plan's write. Held assignments are read back per
 * device: the ids of a stage include earlier stages' members, released
 * already, which keep their place (the insert left them alone). */
static void changed_assigned(struct app *app, int64_t id, const struct policy *p,
			     const struct plan *pl)
{
	/* label_windows: all were held; the open groups go at once */
	if (pl->w.assign_held && p->nlabel_windows > 0)
		rollout_window_release(app, id, p, pl->w.assign_stage, now_s());
	if (!pl->w.assign_held) {
		changed_rollout(app, id, pl->ids, pl->w.nassign);
		return;
	}
	changed_rollout(app, id, NULL, 0);
	if (pl->w.nassign > 0)
		changed_devices(app, pl->ids, pl->w.nassign);
}

static int load(struct app *app, int64_t id, struct rollout_row *row, struct policy *p,
		struct rollout_state *st)
{
	struct ramp_err err;
	int rc = store_rollout_load(app->db, id, row);

	if (rc == 0 && policy_from_json(row->policy, p, &err) != 0) {
		log_error("msg=\"stored policy does not parse\" rollout=%lld error=\"%s: %s\"",
			  (long long)id, err.field, err.msg);
		rc = RAMP_EINTERNAL;
	}
	if (rc == 0)
		rc = row_state(row, st);
	return rc;
}

static void sets_forget(int64_t id);

int rollouts_create(struct app *app, const char *actor, const char *model,
		    const char *version, const char *policy_name, const struct policy *p,
		    const char *selector, int64_t *id, struct ramp_err *err)
{
	struct rollout_state st, cur;
	struct rollout_actions acts;
	struct rollout_row row;
	struct plan pl;
	json_t *pj = policy_to_json(p), *bv = NULL;
	struct strmap *tset = strmap_new();
	size_t target = 0;
	bool applied = false;
	char stable[130];
	int64_t now = now_s();
	int rc;

	rc = store_model_stable(app->db, model, stable, sizeof(stable));
	if (rc == 0) {
		struct rollout_row tmp = {0};
		snprintf(tmp.model, sizeof(tmp.model), "%s", model);
		snprintf(tmp.version, sizeof(tmp.version), "%s", version);
		snprintf(tmp.selector, sizeof(tmp.selector), "%s", selector);
		rc = tset ? eligible(app, &tmp, p, -1, to_set, tset) : RAMP_ENOMEM;
		target = rc == 0 ? strmap_size(tset) : 0;
		/* capture the baseline from its reports before the rollout begins */
		if (rc == 0 && stable[0])
			bv = analysis_capture_baseline(app, model, stable, p, tset, now);
	}
	strmap_free(tset);
	rollout_start(p, now, &st, &acts);
	if (rc == 0 && bv == NULL && (bv = json_object()) == NULL) /* no stable version */
		rc = RAMP_ENOMEM;
	if (rc == 0)
		rc = store_rollout_insert(app->db, actor, model, version, policy_name, pj, selector,
					  st.stage_started_at, st.window_ends_at, bv, id, err);
	json_decref(pj);
	json_decref(bv);
	if (rc)
		return rc;
	/* the first stage's devices and events; the evaluator may touch the new
	 * row in between (its rev moves on): then write on top of its version */
	rc = RAMP_ECONFLICT;
	for (int attempt = 0; attempt < 5 && rc == RAMP_ECONFLICT; attempt++) {
		applied = false;
		rc = store_rollout_load(app->db, *id, &row);
		if (rc == 0)
			rc = row_state(&row, &cur);
		if (rc == 0 && cur.stage != 0) {
			rollout_row_clear(&row);
			break; /* an operator already moved it on: nothing left to start */
		}
		if (rc == 0)
			rc = plan_build(app, &row, p, &st, &acts, actor, true, &pl);
		if (rc == 0) {
			pl.w.target_count = (int)target;
			rc = store_rollout_write(app->db, &pl.w);
			/* devices polling right after the 201 already see the canary;
			 * an evaluation that loaded the sets before this write reloads */
			if (rc == 0) {
				changed_assigned(app, *id, p, &pl);
				sets_forget(*id);
			}
			applied = rc == 0;
			plan_clear(&pl);
		}
		rollout_row_clear(&row);
	}
	if (!applied)
		changed_rollout(app, *id, NULL, 0); /* the rollout itself is active */
	return rc;
}

int rollouts_command(struct app *app, int64_t id, enum rollout_cmd cmd, const char *actor,
		     struct ramp_err *err)
{
	struct policy *p = malloc(sizeof(*p));
	int rc = RAMP_ECONFLICT;

	if (p == NULL)
		return RAMP_ENOMEM;
	for (int attempt = 0; attempt < 5 && rc == RAMP_ECONFLICT; attempt++) {
		struct rollout_row row;
		struct rollout_state cur, next;
		struct rollout_actions acts;
		struct plan pl;

		rc = load(app, id, &row, p, &cur);
		if (rc == 0 && rollout_step(p, &cur, cmd, NULL, now_s(), actor, &next, &acts,
					    err) != 0) {
			/* a verb the state machine refuses is final, not a race */
			ramp_err_set(err, RAMP_ECONFLICT, "state",
				     "not allowed while the rollout is %s", row.state);
			rollout_row_clear(&row);
			free(p);
			return RAMP_ECONFLICT;
		}
		if (rc == 0)
			rc = plan_build(app, &row, p, &next, &acts, actor, true, &pl);
		if (rc == 0) {
			rc = store_rollout_write(app->db, &pl.w);
			/* the verb's effect is visible when we answer */
			if (rc == 0) {
				changed_assigned(app, id, p, &pl);
				sets_forget(id);
			}
			plan_clear(&pl);
		}
		rollout_row_clear(&row);
	}
	free(p);
	return rc;
}

/*
 * The evaluation loop runs in one thread, every second or so. Between
 * changes to the set of devices (snapshot_fleet_changes()) it reuses each
 * rollout's target and assigned sets instead of reloading them from the
 * database, and adds the devices it assigns itself: at a million devices
 * that reload is seconds, the evaluation a few milliseconds. A verb's
 * assignment (rollouts_command) forgets the rollout's sets.
 */
#define SETS_SLOTS 32
#define SETS_MAX_AGE_MS 600000 /* a safety net: events keep them current */

struct sets {
	int64_t id;
	uint64_t gen, at_ms, seq; /* seq: device changes applied up to */
	atomic_bool stale;
	int target_count;
	struct strmap *target, *assigned;
};

static struct sets sets_cache[SETS_SLOTS];
static atomic_ullong set_loads;

uint64_t rollouts_set_loads(void)
{
	return atomic_load(&set_loads);
}

static void sets_clear(struct sets *c)
{
	strmap_free(c->target);
	strmap_free(c->assigned);
	memset(c, 0, sizeof(*c));
}

static void sets_forget(int64_t id)
{
	/* verbs run on workers: only the atomic stale flag is theirs to touch */
	for (int i = 0; i < SETS_SLOTS; i++)
		if (sets_cache[i].id == id)
			atomic_store(&sets_cache[i].stale, true);
}

/* Brings the target set of c up to date with the devices changed since it
 * was: each is looked up (is it eligible now?) and added or dropped.
 * Assigned devices stay assigned (sticky), as in the database. *added:
 * devices joined the target (the current stage takes them). 0, or
 * RAMP_ENOTFOUND when too much changed to follow: load anew. */
static int sets_follow(struct app *app, const struct rollout_row *row, const struct policy *p,
		       struct sets *c, bool *added)
{
	char **ids;
	size_t n;
	struct strmap *in = NULL;
	size_t i;
	int rc = snapshot_devices_changed_since(&c->seq, &ids, &n);

	*added = false;
	if (rc || n == 0)
		return rc;
	if ((in = strmap_new()) == NULL)
		rc = RAMP_ENOMEM;
	if (rc == 0)
		rc = eligible_among(app, row, p, -1, (const char *const *)ids, n, to_set, in);
	for (i = 0; rc == 0 && i < n; i++) {
		if (!strmap_get(in, ids[i])) {
			strmap_del(c->target, ids[i]);
		} else if (!strmap_get(c->target, ids[i])) {
			rc = strmap_set(c->target, ids[i], (void *)1);
			*added = true;
		}
	}
	c->target_count = (int)strmap_size(c->target);
	strmap_free(in);
	for (i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	return rc ? RAMP_ENOTFOUND : 0; /* a failed follow: load anew, to be sure */
}

/* The sets for row, reloaded when stale; *fresh tells whether they were (or
 * devices joined the target since). */
static struct sets *sets_for(struct app *app, const struct rollout_row *row,
			     const struct policy *p, bool *fresh, int *rc)
{
	uint64_t gen = snapshot_fleet_changes(), now = clock_mono_ms(), t0, seq;
	struct sets *c = NULL, *oldest = &sets_cache[0];

	for (int i = 0; i < SETS_SLOTS; i++) {
		if (sets_cache[i].id == row->id)
			c = &sets_cache[i];
		if (sets_cache[i].at_ms < oldest->at_ms)
			oldest = &sets_cache[i];
	}
	*fresh = false;
	*rc = 0;
	if (c && c->gen == gen && now - c->at_ms < SETS_MAX_AGE_MS && !atomic_load(&c->stale) &&
	    sets_follow(app, row, p, c, fresh) == 0)
		return c;
	c = c ? c : oldest;
	sets_clear(c);
	/* named before reading: a verb that writes meanwhile marks it stale */
	c->id = row->id;
	t0 = clock_mono_ms();
	seq = snapshot_devices_seq(); /* changes from here on are followed next time */
	atomic_fetch_add(&set_loads, 1);
	c->assigned = strmap_new();
	c->target = strmap_new();
	*rc = c->assigned && c->target ? 0 : RAMP_ENOMEM;
	if (*rc == 0)
		*rc = store_rollout_assigned(app->db, row->id, to_set, c->assigned);
	if (*rc == 0)
		*rc = eligible(app, row, p, -1, to_set, c->target);
	c->target_count = c->target ? (int)strmap_size(c->target) : 0;
	if (*rc) {
		sets_clear(c);
		return NULL;
	}
	c->id = row->id;
	c->gen = gen;
	c->seq = seq;
	c->at_ms = now;
	*fresh = true;
	if (clock_mono_ms() - t0 > 500)
		log_info("msg=\"rollout sets loaded\" rollout=%lld target=%d assigned=%zu ms=%llu",
			 (long long)row->id, c->target_count, strmap_size(c->assigned),
			 (unsigned long long)(clock_mono_ms() - t0));
	return c;
}

int rollouts_evaluate(struct app *app, int64_t id, int64_t now)
{
	struct policy *p = malloc(sizeof(*p));
	struct rollout_row row;
	struct rollout_state cur, next;
	struct rollout_actions acts;
	struct analysis_result ar = {0};
	struct sets *sets = NULL;
	struct plan pl;
	struct ramp_err err;
	bool fresh = false;
	int rc;

	if (p == NULL)
		return RAMP_ENOMEM;
	rc = load(app, id, &row, p, &cur);
	if (rc)
		goto out_free;
	if (cur.phase != ROLLOUT_PROGRESSING)
		goto out; /* paused and awaiting approval hold; terminal ones are done */
	rollout_window_release(app, id, p, cur.stage, now);
	sets = sets_for(app, &row, p, &fresh, &rc);
	if (rc == 0)
		rc = analysis_run(app, &row, p, now, sets->assigned, sets->target, &ar);
	if (rc == 0)
		rc = rollout_step(p, &cur, CMD_EVALUATE, &ar.verdict, now, "engine", &next, &acts,
				  &err);
	/* new devices join the current stage when the fleet changed */
	if (rc == 0)
		rc = plan_build(app, &row, p, &next, &acts, "engine", fresh, &pl);
	if (rc == 0) {
		pl.w.analysis = ar.rows;
		pl.w.baseline_values = ar.baseline_values;
		pl.w.target_count = sets->target_count;
		pl.w.evaluated = true;
		pl.w.variants_back = ar.variants_back; /* rollback.per_variant */
		rc = store_rollout_write(app->db, &pl.w);
		if (rc == 0 && (acts.n > 0 || pl.w.nassign > 0 || ar.variants_back))
			changed_assigned(app, id, p, &pl);
		/* what it assigned joins the cached set, which stays current; a
		 * write that lost to another writer's leaves it to a reload */
		for (size_t i = 0; rc == 0 && i < pl.w.nassign && sets->assigned; i++)
			if (strmap_set(sets->assigned, pl.ids[i], (void *)1) != 0)
				sets_forget(id);
		if (rc == RAMP_ECONFLICT)
			sets_forget(id);
		if (rc == 0 && next.phase != cur.phase)
			log_info("msg=\"rollout %s\" rollout=%lld model=%s version=%s detail=\"%s\"",
				 rollout_phase_name(next.phase), (long long)id, row.model,
				 row.version, ar.verdict.detail);
		plan_clear(&pl);
	}
out:
	analysis_result_clear(&ar);
	rollout_row_clear(&row);
out_free:
	free(p);
	return rc;
}
