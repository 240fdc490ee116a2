/*
 * rollout.c - the rollout state machine (see rollout.h), after the design
 * note at the top of SQLite's pager.c: every state, every transition and the
 * function that makes it, then one static function per transition.
 *
 *                             rollout_start()
 *                                   |
 *                  +----(1)----+    v
 *                  |          +-------------+ ---(2)--> +-------------------+
 *                  +--------->| PROGRESSING |           | AWAITING_APPROVAL |
 *                             |   stage k   | <--(5)--- +-------------------+
 *                             +-------------+                     |
 *                                |       ^                        |
 *                               (3)     (4)                      (3)
 *                                v       |                        |
 *                             +-------------+ <-------------------+
 *                             |   PAUSED    |
 *                             +-------------+
 *
 *      any non-terminal state ---(6)--> SUCCEEDED      \
 *                             ---(7)--> ROLLED_BACK     > terminal: only
 *                             ---(8)--> ABORTED        /  EVALUATE (a no-op)
 *
 * (1) tr_breach()         a failing evaluation below rollback.failure_limit
 *     tr_extend()         window ended inconclusive, on_inconclusive: extend
 *     tr_advance()        window ended with every gate passing: stage k+1
 *     tr_promote()        verb promote: stage k+1 now
 *     tr_promote_full()   verb promote?full=true: the last stage now
 * (2) tr_await()          window ended passing on a stage with approval: true
 * (3) tr_pause()          verb pause (from progressing or awaiting_approval)
 *     tr_breach_pause()   failure_limit reached with automatic: false
 *     tr_inconclusive_pause()  window ended inconclusive, on_inconclusive:
 *                         pause, or extend after ROLLOUT_MAX_EXTENSIONS
 * (4) tr_resume()         verb resume; the window moves by the paused time
 *     tr_promote(), tr_promote_full()  as in (1)
 * (5) tr_approve(), tr_promote(), tr_promote_full()
 * (6) tr_succeed()        the last stage passes its window, is approved or is
 *                         promoted; the version becomes stable
 * (7) tr_breach_rollback()  failure_limit reached with automatic: true
 *     tr_inconclusive_rollback()  on_inconclusive: rollback
 *     tr_rollback()       verb rollback
 * (8) tr_abort()          verb abort
 *
 * A breach counts as soon as min_devices and min_samples are met, not at the
 * window's end. Gates are decided at or after window_ends_at. A stage without
 * metrics passes at its window's end with no analysis needed. promote_full
 * jumps to the last stage and lets its window and gates run (a breach at 100%
 * still rolls back); on the last stage it succeeds, like promote. Resuming a
 * rollout paused at or after its window's end decides the window again at the
 * next evaluation. resume clears failing and inconclusive_extensions: the
 * operator has looked, and the counts start over.
 *
 * Invariants (rollout_check_invariants(), asserted after every step and
 * checked on the way in): stage indexes the policy; progressing and
 * awaiting_approval have failing < failure_limit; 0 <= extensions <= 3;
 * window_ends_at >= stage_started_at + the stage's window; succeeded sits
 * on the last stage; only paused has paused_at; awaiting_approval only on a
 * stage with approval.
 */
#include "domain/rollout.h"

#include "domain/units.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct step {
	const struct policy *p;
	const struct rollout_state *cur;
	const struct rollout_analysis *a;
	int64_t now;
	const char *actor;
	struct rollout_state *next;
	struct rollout_actions *acts;
};

static const char *const phase_names[] = {
	"progressing", "paused",      "awaiting_approval",
	"succeeded",   "rolled_back", "aborted"};

static const char *const cmd_verbs[] = {
	"evaluate", "pause",	"resume",   "approve",
	"promote",  "promote", "roll back", "abort"};

#define PH(x) (1u << (x))
#define NONTERMINAL                                                            \
	(PH(ROLLOUT_PROGRESSING) | PH(ROLLOUT_PAUSED) |                        \
	 PH(ROLLOUT_AWAITING_APPROVAL))

/* Phases in which each command is allowed. */
static const unsigned cmd_allowed[] = {
	[CMD_EVALUATE] = NONTERMINAL | PH(ROLLOUT_SUCCEEDED) |
			 PH(ROLLOUT_ROLLED_BACK) | PH(ROLLOUT_ABORTED),
	[CMD_PAUSE] = PH(ROLLOUT_PROGRESSING) | PH(ROLLOUT_AWAITING_APPROVAL),
	[CMD_RESUME] = PH(ROLLOUT_PAUSED),
	[CMD_APPROVE] = PH(ROLLOUT_AWAITING_APPROVAL),
	[CMD_PROMOTE] = NONTERMINAL,
	[CMD_PROMOTE_FULL] = NONTERMINAL,
	[CMD_ROLLBACK] = NONTERMINAL,
	[CMD_ABORT] = NONTERMINAL,
};

static int64_t sat_add(int64_t a, int64_t b)
{
	if (b > 0 && a > INT64_MAX - b)
		return INT64_MAX;
	if (b < 0 && a < INT64_MIN - b)
		return INT64_MIN;
	return a + b;
}

static const struct policy_stage *stage_of(const struct step *s, int k)
{
	return &s->p->stages[k];
}

static int last_stage(const struct policy *p)
{
	return (int)p->nstages - 1;
}

static const char *who(const struct step *s)
{
	return s->actor && s->actor[0] ? s->actor : "system";
}

static struct rollout_action *push(struct rollout_actions *acts,
				   enum rollout_action_type type, int stage)
{
	struct rollout_action *act;

	assert(acts->n < sizeof(acts->a) / sizeof(acts->a[0]));
	act = &acts->a[acts->n++];
	memset(act, 0, sizeof(*act));
	act->type = type;
	act->stage = stage;
	return act;
}

__attribute__((format(printf, 3, 4))) static void
fmt_buf(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, n, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 3, 4))) static void
emit(struct step *s, const char *event, const char *fmt, ...)
{
	struct rollout_action *act = push(s->acts, ACTION_EVENT, s->next->stage);
	va_list ap;

	snprintf(act->event, sizeof(act->event), "%s", event);
	va_start(ap, fmt);
	vsnprintf(act->detail, sizeof(act->detail), fmt, ap);
	va_end(ap);
}

static const char *analysis_detail(const struct step *s)
{
	if (s->a != NULL && s->a->evaluated && s->a->detail[0] != '\0')
		return s->a->detail;
	if (s->a == NULL || !s->a->evaluated || !s->a->enough_data)
		return "not enough data";
	return "analysis inconclusive";
}

/* Makes stage k current: devices assigned, a fresh window and counters. */
static void enter_stage(struct step *s, int k)
{
	const struct policy_stage *st = stage_of(s, k);
	char window[32];

	s->next->phase = ROLLOUT_PROGRESSING;
	s->next->stage = k;
	s->next->stage_started_at = s->now;
	s->next->window_ends_at = sat_add(s->now, st->window_s);
	s->next->failing = 0;
	s->next->paused_at = 0;
	s->next->inconclusive_extensions = 0;
	push(s->acts, ACTION_ASSIGN_STAGE, k);
	units_format_duration(st->window_s, window, sizeof(window));
	emit(s, "stage_started", "stage %s started: %g%% of devices, window %s",
	     st->name, st->size * 100, window);
}

/* (6) */
static void tr_succeed(struct step *s, const char *why)
{
	s->next->phase = ROLLOUT_SUCCEEDED;
	s->next->paused_at = 0;
	push(s->acts, ACTION_SET_STABLE, s->next->stage);
	emit(s, "succeeded", "%s; the version is now stable", why);
}

/* (7) */
static void enter_rolled_back(struct step *s, const char *detail)
{
	s->next->phase = ROLLOUT_ROLLED_BACK;
	s->next->paused_at = 0;
	push(s->acts, ACTION_REVERT, s->next->stage);
	emit(s, "rolled_back", "%s", detail);
}

/* (3) */
static void enter_paused(struct step *s)
{
	s->next->phase = ROLLOUT_PAUSED;
	s->next->paused_at = s->now;
}

/* (1) window passed, stage k+1 */
/* how a stage passed: at its window's end, or before it (an early pass:
 * every gate is a sequential judge that excluded a regression) */
static const char *passed(const struct step *s)
{
	return s->now < s->cur->window_ends_at ? "passed early (every sequential gate excluded a "
						 "regression)"
					       : "passed";
}

static void tr_advance(struct step *s)
{
	int k = s->cur->stage;

	emit(s, "promoted", "stage %s %s; promoting to %s",
	     stage_of(s, k)->name, passed(s), stage_of(s, k + 1)->name);
	enter_stage(s, k + 1);
}

/* (2) */
static void tr_await(struct step *s)
{
	s->next->phase = ROLLOUT_AWAITING_APPROVAL;
	emit(s, "awaiting_approval", "stage %s %s; waiting for approval",
	     stage_of(s, s->cur->stage)->name, passed(s));
}

/* The window ended with every gate passing. */
static void stage_passed(struct step *s)
{
	const struct policy_stage *st = stage_of(s, s->cur->stage);
	char why[128];

	if (st->approval) {
		tr_await(s);
	} else if (s->cur->stage == last_stage(s->p)) {
		fmt_buf(why, sizeof(why), "stage %s %s", st->name, passed(s));
		tr_succeed(s, why);
	} else {
		tr_advance(s);
	}
}

/* (7) */
static void tr_breach_rollback(struct step *s)
{
	char why[256];

	fmt_buf(why, sizeof(why), "automatic rollback after breach: %s",
		analysis_detail(s));
	enter_rolled_back(s, why);
}

/* (3) */
static void tr_breach_pause(struct step *s)
{
	enter_paused(s);
	emit(s, "paused", "paused after breach (automatic rollback is off): %s",
	     analysis_detail(s));
}

/* (1), then (3) or (7) when the limit is reached. */
static void tr_breach(struct step *s)
{
	s->next->failing = s->cur->failing + 1;
	emit(s, "breach", "%s (failing evaluation %d of %d)",
	     analysis_detail(s), s->next->failing, s->p->failure_limit);
	if (s->next->failing < s->p->failure_limit)
		return;
	if (s->p->automatic)
		tr_breach_rollback(s);
	else
		tr_breach_pause(s);
}

/* What made the stage inconclusive: its window's end, or a provider's
 * errors before it. */
static const char *ended(const struct step *s)
{
	return s->a != NULL && s->a->give_up ? "is inconclusive before its window's end"
					     : "window ended inconclusive";
}

/* (3) */
static void tr_inconclusive_pause(struct step *s)
{
	emit(s, "inconclusive", "stage %s %s: %s", stage_of(s, s->cur->stage)->name, ended(s),
	     analysis_detail(s));
	enter_paused(s);
	emit(s, "paused", "paused: stage %s is inconclusive",
	     stage_of(s, s->cur->stage)->name);
}

/* (7) */
static void tr_inconclusive_rollback(struct step *s)
{
	emit(s, "inconclusive", "stage %s %s: %s", stage_of(s, s->cur->stage)->name, ended(s),
	     analysis_detail(s));
	char why[128];

	fmt_buf(why, sizeof(why), "rolled back: stage %s is inconclusive",
		stage_of(s, s->cur->stage)->name);
	enter_rolled_back(s, why);
}

/* (1) another validation window for the same stage */
static void tr_extend(struct step *s)
{
	const struct policy_stage *st = stage_of(s, s->cur->stage);
	int64_t from = s->cur->window_ends_at > s->now ? s->cur->window_ends_at
						       : s->now;
	char window[32];

	s->next->inconclusive_extensions = s->cur->inconclusive_extensions + 1;
	s->next->window_ends_at = sat_add(from, st->window_s);
	units_format_duration(st->window_s, window, sizeof(window));
	emit(s, "inconclusive",
	     "stage %s %s: %s; extended by %s "
	     "(extension %d of %d)",
	     st->name, ended(s), analysis_detail(s), window,
	     s->next->inconclusive_extensions, ROLLOUT_MAX_EXTENSIONS);
}

/* The window ended without enough data or with an inconclusive verdict. */
static void window_inconclusive(struct step *s)
{
	switch (s->p->on_inconclusive) {
	case INCONCLUSIVE_ROLLBACK:
		tr_inconclusive_rollback(s);
		return;
	case INCONCLUSIVE_EXTEND:
		if (s->cur->inconclusive_extensions < ROLLOUT_MAX_EXTENSIONS) {
			tr_extend(s);
			return;
		}
		break;
	case INCONCLUSIVE_PAUSE:
		break;
	}
	tr_inconclusive_pause(s);
}

/* CMD_EVALUATE while progressing. */
static void evaluate(struct step *s)
{
	const struct policy_stage *st = stage_of(s, s->cur->stage);
	const struct rollout_analysis *a = s->a;
	bool gated = st->nmetrics > 0;

	if (gated && (a == NULL || !a->evaluated))
		return; /* nothing to decide on */
	if (gated && a->enough_data && a->verdict == VERDICT_FAIL) {
		tr_breach(s);
		return;
	}
	s->next->failing = 0;
	if (gated && a->give_up) {
		window_inconclusive(s); /* errors are never a breach */
		return;
	}
	if (s->now < s->cur->window_ends_at &&
	    !(gated && a->early_pass && a->enough_data && a->verdict == VERDICT_PASS))
		return;
	if (!gated || (a->enough_data && a->verdict == VERDICT_PASS))
		stage_passed(s);
	else
		window_inconclusive(s);
}

/* (3) verb */
static void tr_pause(struct step *s)
{
	enter_paused(s);
	emit(s, "paused", "paused by %s", who(s));
}

/* (4) verb; pausing must not eat the window */
static void tr_resume(struct step *s)
{
	int64_t paused = s->now - s->cur->paused_at;
	char took[32];

	if (paused < 0)
		paused = 0;
	s->next->phase = ROLLOUT_PROGRESSING;
	s->next->window_ends_at = sat_add(s->cur->window_ends_at, paused);
	s->next->paused_at = 0;
	s->next->failing = 0;
	s->next->inconclusive_extensions = 0;
	units_format_duration(paused, took, sizeof(took));
	emit(s, "resumed", "resumed by %s after %s paused; window extended",
	     who(s), took);
}

/* (5) or (6) verb */
static void tr_approve(struct step *s)
{
	int k = s->cur->stage;
	char why[128];

	emit(s, "approved", "stage %s approved by %s", stage_of(s, k)->name,
	     who(s));
	if (k == last_stage(s->p)) {
		fmt_buf(why, sizeof(why), "stage %s approved",
			stage_of(s, k)->name);
		tr_succeed(s, why);
		return;
	}
	emit(s, "promoted", "stage %s approved; promoting to %s",
	     stage_of(s, k)->name, stage_of(s, k + 1)->name);
	enter_stage(s, k + 1);
}

/* (1), (4), (5) or (6) verb */
static void tr_promote(struct step *s)
{
	int k = s->cur->stage;
	char why[128];

	if (k == last_stage(s->p)) {
		fmt_buf(why, sizeof(why), "promoted by %s", who(s));
		tr_succeed(s, why);
		return;
	}
	emit(s, "promoted", "promoted by %s: stage %s ended early, promoting to %s",
	     who(s), stage_of(s, k)->name, stage_of(s, k + 1)->name);
	enter_stage(s, k + 1);
}

/* (1), (4), (5) or (6) verb; the last stage's window then runs */
static void tr_promote_full(struct step *s)
{
	int k = s->cur->stage, last = last_stage(s->p);

	if (k == last) {
		tr_promote(s);
		return;
	}
	emit(s, "promoted", "promoted to full by %s: from stage %s to %s",
	     who(s), stage_of(s, k)->name, stage_of(s, last)->name);
	enter_stage(s, last);
}

/* (7) verb */
static void tr_rollback(struct step *s)
{
	char why[128];

	fmt_buf(why, sizeof(why), "rolled back by %s", who(s));
	enter_rolled_back(s, why);
}

/* (8) verb */
static void tr_abort(struct step *s)
{
	s->next->phase = ROLLOUT_ABORTED;
	s->next->paused_at = 0;
	push(s->acts, ACTION_REVERT, s->next->stage);
	emit(s, "aborted", "aborted by %s", who(s));
}

static void dispatch(struct step *s, enum rollout_cmd cmd)
{
	switch (cmd) {
	case CMD_EVALUATE:
		if (s->cur->phase == ROLLOUT_PROGRESSING)
			evaluate(s);
		break;
	case CMD_PAUSE:
		tr_pause(s);
		break;
	case CMD_RESUME:
		tr_resume(s);
		break;
	case CMD_APPROVE:
		tr_approve(s);
		break;
	case CMD_PROMOTE:
		tr_promote(s);
		break;
	case CMD_PROMOTE_FULL:
		tr_promote_full(s);
		break;
	case CMD_ROLLBACK:
		tr_rollback(s);
		break;
	case CMD_ABORT:
		tr_abort(s);
		break;
	}
}

bool rollout_check_invariants(const struct policy *p,
			      const struct rollout_state *s)
{
	const struct policy_stage *st;
	bool active;

	if (p == NULL || s == NULL || p->nstages == 0 ||
	    p->nstages > POLICY_MAX_STAGES || (int)s->phase < 0 ||
	    s->phase > ROLLOUT_ABORTED || s->stage < 0 ||
	    s->stage >= (int)p->nstages)
		return false;
	st = &p->stages[s->stage];
	active = s->phase == ROLLOUT_PROGRESSING ||
		 s->phase == ROLLOUT_AWAITING_APPROVAL;
	if (s->failing < 0 || (active && s->failing >= p->failure_limit))
		return false;
	if (s->inconclusive_extensions < 0 ||
	    s->inconclusive_extensions > ROLLOUT_MAX_EXTENSIONS)
		return false;
	if (s->window_ends_at < sat_add(s->stage_started_at, st->window_s))
		return false;
	if (s->phase == ROLLOUT_SUCCEEDED && s->stage != last_stage(p))
		return false;
	if (s->phase != ROLLOUT_PAUSED && s->paused_at != 0)
		return false;
	if (s->phase == ROLLOUT_AWAITING_APPROVAL && !st->approval)
		return false;
	return true;
}

void rollout_start(const struct policy *p, int64_t now,
		   struct rollout_state *out, struct rollout_actions *acts)
{
	struct step s = {p, NULL, NULL, now, NULL, out, acts};

	memset(out, 0, sizeof(*out));
	acts->n = 0;
	emit(&s, "created", "rollout created with %zu stages", p->nstages);
	enter_stage(&s, 0);
	assert(rollout_check_invariants(p, out));
}

int rollout_step(const struct policy *p, const struct rollout_state *cur,
		 enum rollout_cmd cmd, const struct rollout_analysis *a,
		 int64_t now, const char *actor, struct rollout_state *next,
		 struct rollout_actions *acts, struct ramp_err *err)
{
	struct step s = {p, cur, a, now, actor, next, acts};

	*next = *cur;
	acts->n = 0;
	if (!rollout_check_invariants(p, cur))
		return ramp_err_set(err, RAMP_EINTERNAL, "state",
				    "rollout state is inconsistent with its policy");
	if ((int)cmd < 0 || cmd > CMD_ABORT)
		return ramp_err_set(err, RAMP_EINVAL, "command",
				    "unknown command %d", (int)cmd);
	if (!(cmd_allowed[cmd] & PH(cur->phase)))
		return ramp_err_set(err, RAMP_ECONFLICT, "state",
				    "cannot %s a rollout that is %s",
				    cmd_verbs[cmd], phase_names[cur->phase]);
	dispatch(&s, cmd);
	assert(rollout_check_invariants(p, next));
	return 0;
}

const char *rollout_phase_name(enum rollout_phase phase)
{
	if ((int)phase < 0 || phase > ROLLOUT_ABORTED)
		return "unknown";
	return phase_names[phase];
}

int rollout_phase_from_name(const char *name)
{
	for (int i = 0; name != NULL && i <= ROLLOUT_ABORTED; i++)
		if (strcmp(name, phase_names[i]) == 0)
			return i;
	return RAMP_EINVAL;
}

bool rollout_phase_is_terminal(enum rollout_phase phase)
{
	return phase == ROLLOUT_SUCCEEDED || phase == ROLLOUT_ROLLED_BACK ||
	       phase == ROLLOUT_ABORTED;
}
