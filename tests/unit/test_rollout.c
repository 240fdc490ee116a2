/* test_rollout.c - the rollout state machine: every transition, every verb
 * from every state, breach counting, inconclusive modes, approval, promote,
 * resume arithmetic, success. Times are plain seconds from 1000. */
#include "common/err.h"
#include "domain/rollout.h"
#include "unit.h"

static const char three_stages[] =
	"stages:\n"
	"  - name: canary\n"
	"    size: 0.01\n"
	"    validation_window: 30m\n"
	"    metrics: [{name: error_rate, threshold: < 0.5%}]\n"
	"  - {name: ramp, size: 0.25, validation_window: 1h}\n"
	"  - {name: full, size: 1.0, validation_window: 24h}\n";

static struct policy pol;
static struct rollout_actions acts;
static struct ramp_err err;

#define T0 1000
#define CANARY_END (T0 + 1800)

static void load(const char *yaml, const char *rollback)
{
	char buf[2048];
	int rc;

	snprintf(buf, sizeof(buf), "%s%s", yaml, rollback ? rollback : "");
	rc = policy_parse(buf, strlen(buf), POLICY_YAML, &pol, &err);
	if (rc != 0)
		fprintf(stderr, "  policy: %s: %s\n", err.field, err.msg);
	CHECK_EQ_INT(rc, 0);
}

static struct rollout_analysis verdict(enum rollout_verdict v, bool enough,
				       const char *detail)
{
	struct rollout_analysis a;

	memset(&a, 0, sizeof(a));
	a.evaluated = true;
	a.enough_data = enough;
	a.verdict = v;
	snprintf(a.detail, sizeof(a.detail), "%s", detail);
	return a;
}

static const struct rollout_analysis *pass(void)
{
	static struct rollout_analysis a;

	a = verdict(VERDICT_PASS, true, "");
	return &a;
}

static const struct rollout_analysis *failing(void)
{
	static struct rollout_analysis a;

	a = verdict(VERDICT_FAIL, true, "error_rate 0.031 >= 0.005");
	return &a;
}

static const struct rollout_analysis *inconclusive(void)
{
	static struct rollout_analysis a;

	a = verdict(VERDICT_INCONCLUSIVE, true, "inference_latency_p95: no baseline");
	return &a;
}

static const struct rollout_analysis *too_little_data(void)
{
	static struct rollout_analysis a;

	a = verdict(VERDICT_PASS, false, "");
	return &a;
}

static struct rollout_state started(void)
{
	struct rollout_state s;

	rollout_start(&pol, T0, &s, &acts);
	return s;
}

/* One step that must succeed. */
static struct rollout_state go(struct rollout_state cur, enum rollout_cmd cmd,
			       const struct rollout_analysis *a, int64_t now)
{
	struct rollout_state next;
	int rc = rollout_step(&pol, &cur, cmd, a, now, "alice", &next, &acts,
			      &err);

	if (rc != 0)
		fprintf(stderr, "  step failed: %s\n", err.msg);
	CHECK_EQ_INT(rc, 0);
	CHECK(rollout_check_invariants(&pol, &next));
	return next;
}

static bool same(const struct rollout_state *a, const struct rollout_state *b)
{
	return a->phase == b->phase && a->stage == b->stage &&
	       a->stage_started_at == b->stage_started_at &&
	       a->window_ends_at == b->window_ends_at &&
	       a->failing == b->failing && a->paused_at == b->paused_at &&
	       a->inconclusive_extensions == b->inconclusive_extensions;
}

static void check_event(size_t i, const char *event, const char *detail)
{
	CHECK(i < acts.n);
	if (i >= acts.n)
		return;
	CHECK_EQ_INT(acts.a[i].type, ACTION_EVENT);
	CHECK_EQ_STR(acts.a[i].event, event);
	CHECK_EQ_STR(acts.a[i].detail, detail);
}

static void check_action(size_t i, enum rollout_action_type type, int stage)
{
	CHECK(i < acts.n);
	if (i >= acts.n)
		return;
	CHECK_EQ_INT(acts.a[i].type, type);
	CHECK_EQ_INT(acts.a[i].stage, stage);
}

static void start_assigns_stage_zero_and_opens_its_window(void)
{
	struct rollout_state s;

	load(three_stages, NULL);
	s = started();
	CHECK_EQ_INT(s.phase, ROLLOUT_PROGRESSING);
	CHECK_EQ_INT(s.stage, 0);
	CHECK_EQ_INT(s.stage_started_at, T0);
	CHECK_EQ_INT(s.window_ends_at, T0 + 1800);
	CHECK_EQ_INT(s.failing, 0);
	CHECK_EQ_INT(s.paused_at, 0);
	CHECK_EQ_INT(s.inconclusive_extensions, 0);
	CHECK_EQ_INT(acts.n, 3);
	check_event(0, "created", "rollout created with 3 stages");
	check_action(1, ACTION_ASSIGN_STAGE, 0);
	check_event(2, "stage_started",
		    "stage canary started: 1% of devices, window 30m");
	CHECK(rollout_check_invariants(&pol, &s));
}

static void passing_evaluation_inside_the_window_changes_nothing(void)
{
	struct rollout_state s, n;

	load(three_stages, NULL);
	s = started();
	n = go(s, CMD_EVALUATE, pass(), CANARY_END - 1);
	CHECK(same(&s, &n));
	CHECK_EQ_INT(acts.n, 0);
}

static void window_end_with_every_gate_passing_promotes(void)
{
	struct rollout_state n;

	load(three_stages, NULL);
	n = go(started(), CMD_EVALUATE, pass(), CANARY_END);
	CHECK_EQ_INT(n.phase, ROLLOUT_PROGRESSING);
	CHECK_EQ_INT(n.stage, 1);
	CHECK_EQ_INT(n.stage_started_at, CANARY_END);
	CHECK_EQ_INT(n.window_ends_at, CANARY_END + 3600);
	CHECK_EQ_INT(acts.n, 3);
	check_event(0, "promoted", "stage canary passed; promoting to ramp");
	check_action(1, ACTION_ASSIGN_STAGE, 1);
	check_event(2, "stage_started",
		    "stage ramp started: 25% of devices, window 1h");
}

/* every gate a sequential judge that excluded a regression: the stage
 * passes before its window's end; without early_pass (thresholds, drift) or
 * without enough data it still waits */
static void early_pass_promotes_before_the_window_ends(void)
{
	struct rollout_analysis early = *pass(), thin;
	struct rollout_state s, n;

	early.early_pass = true;
	thin = early;
	thin.enough_data = false;
	load(three_stages, NULL);
	s = started();
	n = go(s, CMD_EVALUATE, &thin, T0 + 300);
	CHECK(same(&s, &n));
	n = go(s, CMD_EVALUATE, pass(), T0 + 300);
	CHECK(same(&s, &n));
	early.verdict = VERDICT_INCONCLUSIVE;
	n = go(s, CMD_EVALUATE, &early, T0 + 300);
	CHECK(same(&s, &n));
	early.verdict = VERDICT_PASS;
	n = go(s, CMD_EVALUATE, &early, T0 + 300);
	CHECK_EQ_INT(n.phase, ROLLOUT_PROGRESSING);
	CHECK_EQ_INT(n.stage, 1);
	CHECK_EQ_INT(n.stage_started_at, T0 + 300);
	CHECK_EQ_INT(n.window_ends_at, T0 + 300 + 3600);
	check_event(0, "promoted",
		    "stage canary passed early (every sequential gate excluded a regression); "
		    "promoting to ramp");
}

static void last_stage_passing_succeeds_and_sets_stable(void)
{
	struct rollout_state s;
	int64_t t;

	load(three_stages, NULL);
	s = go(started(), CMD_EVALUATE, pass(), CANARY_END);
	t = s.window_ends_at;
	s = go(s, CMD_EVALUATE, pass(), t);
	CHECK_EQ_INT(s.stage, 2);
	CHECK_EQ_INT(s.window_ends_at, t + 86400);
	s = go(s, CMD_EVALUATE, pass(), t + 86400 + 5);
	CHECK_EQ_INT(s.phase, ROLLOUT_SUCCEEDED);
	CHECK_EQ_INT(s.stage, 2);
	CHECK_EQ_INT(acts.n, 2);
	check_action(0, ACTION_SET_STABLE, 2);
	check_event(1, "succeeded", "stage full passed; the version is now stable");
}

static void breach_rolls_back_before_the_window_ends(void)
{
	struct rollout_state n;

	load(three_stages, NULL);
	n = go(started(), CMD_EVALUATE, failing(), T0 + 10);
	CHECK_EQ_INT(n.phase, ROLLOUT_ROLLED_BACK);
	CHECK_EQ_INT(n.failing, 1);
	CHECK_EQ_INT(acts.n, 3);
	check_event(0, "breach",
		    "error_rate 0.031 >= 0.005 (failing evaluation 1 of 1)");
	check_action(1, ACTION_REVERT, 0);
	check_event(2, "rolled_back",
		    "automatic rollback after breach: error_rate 0.031 >= 0.005");
}

static void failure_limit_counts_consecutive_breaches(void)
{
	struct rollout_state s;

	load(three_stages, "rollback: {failure_limit: 2}\n");
	s = go(started(), CMD_EVALUATE, failing(), T0 + 10);
	CHECK_EQ_INT(s.phase, ROLLOUT_PROGRESSING);
	CHECK_EQ_INT(s.failing, 1);
	CHECK_EQ_INT(acts.n, 1);
	check_event(0, "breach",
		    "error_rate 0.031 >= 0.005 (failing evaluation 1 of 2)");
	s = go(s, CMD_EVALUATE, pass(), T0 + 20); /* resets the streak */
	CHECK_EQ_INT(s.failing, 0);
	CHECK_EQ_INT(acts.n, 0);
	s = go(s, CMD_EVALUATE, failing(), T0 + 30);
	CHECK_EQ_INT(s.failing, 1);
	CHECK_EQ_INT(s.phase, ROLLOUT_PROGRESSING);
	s = go(s, CMD_EVALUATE, failing(), T0 + 40);
	CHECK_EQ_INT(s.failing, 2);
	CHECK_EQ_INT(s.phase, ROLLOUT_ROLLED_BACK);
	check_event(0, "breach",
		    "error_rate 0.031 >= 0.005 (failing evaluation 2 of 2)");
	check_action(1, ACTION_REVERT, 0);
}

static void failing_at_window_end_below_the_limit_does_not_promote(void)
{
	struct rollout_state s;

	load(three_stages, "rollback: {failure_limit: 2}\n");
	s = go(started(), CMD_EVALUATE, failing(), CANARY_END);
	CHECK_EQ_INT(s.phase, ROLLOUT_PROGRESSING);
	CHECK_EQ_INT(s.stage, 0);
	CHECK_EQ_INT(s.failing, 1);
	s = go(s, CMD_EVALUATE, pass(), CANARY_END + 10);
	CHECK_EQ_INT(s.stage, 1); /* the next passing look promotes */
}

static void breach_without_enough_data_is_not_counted(void)
{
	struct rollout_state s, n;
	struct rollout_analysis a = verdict(VERDICT_FAIL, false, "error_rate 1 >= 0.005");

	load(three_stages, "rollback: {failure_limit: 2}\n");
	s = go(started(), CMD_EVALUATE, failing(), T0 + 10);
	n = go(s, CMD_EVALUATE, &a, T0 + 20);
	CHECK_EQ_INT(n.phase, ROLLOUT_PROGRESSING);
	CHECK_EQ_INT(n.failing, 0);
	CHECK_EQ_INT(acts.n, 0);
}

static void breach_with_automatic_false_pauses(void)
{
	struct rollout_state n;

	load(three_stages, "rollback: {automatic: false}\n");
	n = go(started(), CMD_EVALUATE, failing(), T0 + 10);
	CHECK_EQ_INT(n.phase, ROLLOUT_PAUSED);
	CHECK_EQ_INT(n.paused_at, T0 + 10);
	CHECK_EQ_INT(acts.n, 2);
	check_event(0, "breach",
		    "error_rate 0.031 >= 0.005 (failing evaluation 1 of 1)");
	check_event(1, "paused",
		    "paused after breach (automatic rollback is off): "
		    "error_rate 0.031 >= 0.005");
}

static void resume_after_a_breach_pause_clears_the_count(void)
{
	struct rollout_state s;

	load(three_stages, "rollback: {automatic: false}\n");
	s = go(started(), CMD_EVALUATE, failing(), T0 + 10);
	s = go(s, CMD_RESUME, NULL, T0 + 70);
	CHECK_EQ_INT(s.phase, ROLLOUT_PROGRESSING);
	CHECK_EQ_INT(s.failing, 0);
	CHECK_EQ_INT(s.window_ends_at, CANARY_END + 60);
	s = go(s, CMD_EVALUATE, failing(), T0 + 80);
	CHECK_EQ_INT(s.phase, ROLLOUT_PAUSED); /* and a new breach pauses again */
}

static void inconclusive_window_pauses_by_default(void)
{
	struct rollout_state n;

	load(three_stages, NULL);
	n = go(started(), CMD_EVALUATE, inconclusive(), CANARY_END);
	CHECK_EQ_INT(n.phase, ROLLOUT_PAUSED);
	CHECK_EQ_INT(n.paused_at, CANARY_END);
	CHECK_EQ_INT(n.stage, 0);
	CHECK_EQ_INT(acts.n, 2);
	check_event(0, "inconclusive",
		    "stage canary window ended inconclusive: "
		    "inference_latency_p95: no baseline");
	check_event(1, "paused", "paused: stage canary is inconclusive");
	/* too little data is inconclusive too, even with a passing verdict */
	n = go(started(), CMD_EVALUATE, too_little_data(), CANARY_END + 3);
	CHECK_EQ_INT(n.phase, ROLLOUT_PAUSED);
	check_event(0, "inconclusive",
		    "stage canary window ended inconclusive: not enough data");
}

static void inconclusive_window_rolls_back_when_asked(void)
{
	struct rollout_state n;

	load(three_stages, "rollback: {on_inconclusive: rollback}\n");
	n = go(started(), CMD_EVALUATE, too_little_data(), CANARY_END);
	CHECK_EQ_INT(n.phase, ROLLOUT_ROLLED_BACK);
	CHECK_EQ_INT(acts.n, 3);
	check_event(0, "inconclusive",
		    "stage canary window ended inconclusive: not enough data");
	check_action(1, ACTION_REVERT, 0);
	check_event(2, "rolled_back", "rolled back: stage canary is inconclusive");
}

static void inconclusive_window_extends_three_times_then_pauses(void)
{
	struct rollout_state s;
	int64_t end = CANARY_END;

	load(three_stages, "rollback: {on_inconclusive: extend}\n");
	s = started();
	for (int i = 1; i <= 3; i++) {
		s = go(s, CMD_EVALUATE, too_little_data(), end);
		end += 1800;
		CHECK_EQ_INT(s.phase, ROLLOUT_PROGRESSING);
		CHECK_EQ_INT(s.inconclusive_extensions, i);
		CHECK_EQ_INT(s.window_ends_at, end);
		CHECK_EQ_INT(s.stage_started_at, T0);
		CHECK_EQ_INT(acts.n, 1);
	}
	check_event(0, "inconclusive",
		    "stage canary window ended inconclusive: not enough data; "
		    "extended by 30m (extension 3 of 3)");
	s = go(s, CMD_EVALUATE, too_little_data(), end - 1); /* inside: wait */
	CHECK_EQ_INT(acts.n, 0);
	s = go(s, CMD_EVALUATE, too_little_data(), end);
	CHECK_EQ_INT(s.phase, ROLLOUT_PAUSED);
	CHECK_EQ_INT(acts.n, 2);
	check_event(1, "paused", "paused: stage canary is inconclusive");
}

static void extension_counts_from_now_when_evaluation_is_late(void)
{
	struct rollout_state s;

	load(three_stages, "rollback: {on_inconclusive: extend}\n");
	s = go(started(), CMD_EVALUATE, inconclusive(), CANARY_END + 500);
	CHECK_EQ_INT(s.window_ends_at, CANARY_END + 500 + 1800);
}

static void extended_window_that_passes_promotes_and_resets(void)
{
	struct rollout_state s;

	load(three_stages, "rollback: {on_inconclusive: extend}\n");
	s = go(started(), CMD_EVALUATE, too_little_data(), CANARY_END);
	s = go(s, CMD_EVALUATE, pass(), CANARY_END + 1800);
	CHECK_EQ_INT(s.stage, 1);
	CHECK_EQ_INT(s.inconclusive_extensions, 0);
	CHECK_EQ_INT(s.window_ends_at, CANARY_END + 1800 + 3600);
}

static const char approval_stages[] =
	"stages:\n"
	"  - name: canary\n"
	"    size: 0.05\n"
	"    validation_window: 10m\n"
	"    approval: true\n"
	"    metrics: [{name: error_rate, threshold: < 1%}]\n"
	"  - {name: full, size: 1, validation_window: 1h, approval: true}\n";

static void approval_stage_waits_for_approve(void)
{
	struct rollout_state s, n;

	load(approval_stages, NULL);
	s = go(started(), CMD_EVALUATE, pass(), T0 + 600);
	CHECK_EQ_INT(s.phase, ROLLOUT_AWAITING_APPROVAL);
	CHECK_EQ_INT(s.stage, 0);
	CHECK_EQ_INT(acts.n, 1);
	check_event(0, "awaiting_approval",
		    "stage canary passed; waiting for approval");
	n = go(s, CMD_EVALUATE, failing(), T0 + 700); /* evaluations wait too */
	CHECK(same(&s, &n));
	CHECK_EQ_INT(acts.n, 0);
	n = go(s, CMD_APPROVE, NULL, T0 + 900);
	CHECK_EQ_INT(n.phase, ROLLOUT_PROGRESSING);
	CHECK_EQ_INT(n.stage, 1);
	CHECK_EQ_INT(n.stage_started_at, T0 + 900);
	CHECK_EQ_INT(n.window_ends_at, T0 + 900 + 3600);
	CHECK_EQ_INT(acts.n, 4);
	check_event(0, "approved", "stage canary approved by alice");
	check_event(1, "promoted", "stage canary approved; promoting to full");
	check_action(2, ACTION_ASSIGN_STAGE, 1);
	check_event(3, "stage_started",
		    "stage full started: 100% of devices, window 1h");
}

static void approving_the_last_stage_succeeds(void)
{
	struct rollout_state s;

	load(approval_stages, NULL);
	s = go(started(), CMD_EVALUATE, pass(), T0 + 600);
	s = go(s, CMD_APPROVE, NULL, T0 + 600);
	s = go(s, CMD_EVALUATE, pass(), T0 + 4200); /* full inherits gates */
	CHECK_EQ_INT(s.phase, ROLLOUT_AWAITING_APPROVAL);
	CHECK_EQ_INT(s.stage, 1);
	s = go(s, CMD_APPROVE, NULL, T0 + 5000);
	CHECK_EQ_INT(s.phase, ROLLOUT_SUCCEEDED);
	CHECK_EQ_INT(acts.n, 3);
	check_event(0, "approved", "stage full approved by alice");
	check_action(1, ACTION_SET_STABLE, 1);
	check_event(2, "succeeded", "stage full approved; the version is now stable");
}

static void stage_without_metrics_passes_at_window_end_without_analysis(void)
{
	struct rollout_state s, n;

	load("stages:\n"
	     "  - {name: a, size: 0.5, validation_window: 60}\n"
	     "  - {name: b, size: 1, validation_window: 60}\n",
	     NULL);
	s = started();
	n = go(s, CMD_EVALUATE, NULL, T0 + 59);
	CHECK(same(&s, &n));
	n = go(s, CMD_EVALUATE, failing(), T0 + 30); /* no gates, no breach */
	CHECK(same(&s, &n));
	CHECK_EQ_INT(acts.n, 0);
	n = go(s, CMD_EVALUATE, NULL, T0 + 60);
	CHECK_EQ_INT(n.stage, 1);
	n = go(n, CMD_EVALUATE, too_little_data(), T0 + 120);
	CHECK_EQ_INT(n.phase, ROLLOUT_SUCCEEDED);
}

static void gated_stage_without_an_analysis_waits(void)
{
	struct rollout_state s, n;
	struct rollout_analysis none;

	memset(&none, 0, sizeof(none));
	load(three_stages, NULL);
	s = started();
	n = go(s, CMD_EVALUATE, &none, CANARY_END + 100);
	CHECK(same(&s, &n));
	CHECK_EQ_INT(acts.n, 0);
	n = go(s, CMD_EVALUATE, NULL, CANARY_END + 100);
	CHECK(same(&s, &n));
}

static void promote_ends_the_stage_early(void)
{
	struct rollout_state n;

	load(three_stages, NULL);
	n = go(started(), CMD_PROMOTE, NULL, T0 + 500);
	CHECK_EQ_INT(n.phase, ROLLOUT_PROGRESSING);
	CHECK_EQ_INT(n.stage, 1);
	CHECK_EQ_INT(n.stage_started_at, T0 + 500);
	CHECK_EQ_INT(n.window_ends_at, T0 + 500 + 3600);
	CHECK_EQ_INT(acts.n, 3);
	check_event(0, "promoted",
		    "promoted by alice: stage canary ended early, promoting to ramp");
	check_action(1, ACTION_ASSIGN_STAGE, 1);
}

static void promote_on_the_last_stage_succeeds(void)
{
	struct rollout_state s;

	load(three_stages, NULL);
	s = go(started(), CMD_PROMOTE, NULL, T0 + 1);
	s = go(s, CMD_PROMOTE, NULL, T0 + 2);
	CHECK_EQ_INT(s.stage, 2);
	s = go(s, CMD_PROMOTE, NULL, T0 + 3);
	CHECK_EQ_INT(s.phase, ROLLOUT_SUCCEEDED);
	CHECK_EQ_INT(acts.n, 2);
	check_action(0, ACTION_SET_STABLE, 2);
	check_event(1, "succeeded", "promoted by alice; the version is now stable");
}

static void promote_full_jumps_to_the_last_stage_whose_window_runs(void)
{
	struct rollout_state s;

	load(three_stages, NULL);
	s = go(started(), CMD_PROMOTE_FULL, NULL, T0 + 100);
	CHECK_EQ_INT(s.phase, ROLLOUT_PROGRESSING);
	CHECK_EQ_INT(s.stage, 2);
	CHECK_EQ_INT(s.window_ends_at, T0 + 100 + 86400);
	CHECK_EQ_INT(acts.n, 3);
	check_event(0, "promoted",
		    "promoted to full by alice: from stage canary to full");
	check_action(1, ACTION_ASSIGN_STAGE, 2);
	/* the last stage's gates still apply (it inherits canary's) */
	s = go(s, CMD_EVALUATE, failing(), T0 + 200);
	CHECK_EQ_INT(s.phase, ROLLOUT_ROLLED_BACK);
	/* and on the last stage promote_full finishes it */
	s = go(started(), CMD_PROMOTE_FULL, NULL, T0 + 100);
	s = go(s, CMD_PROMOTE_FULL, NULL, T0 + 200);
	CHECK_EQ_INT(s.phase, ROLLOUT_SUCCEEDED);
	check_action(0, ACTION_SET_STABLE, 2);
}

static void promote_works_from_paused_and_awaiting_approval(void)
{
	struct rollout_state s;

	load(approval_stages, NULL);
	s = go(started(), CMD_PAUSE, NULL, T0 + 5);
	s = go(s, CMD_PROMOTE, NULL, T0 + 6);
	CHECK_EQ_INT(s.phase, ROLLOUT_PROGRESSING);
	CHECK_EQ_INT(s.stage, 1);
	CHECK_EQ_INT(s.paused_at, 0);
	s = go(started(), CMD_EVALUATE, pass(), T0 + 600);
	CHECK_EQ_INT(s.phase, ROLLOUT_AWAITING_APPROVAL);
	s = go(s, CMD_PROMOTE_FULL, NULL, T0 + 601);
	CHECK_EQ_INT(s.phase, ROLLOUT_PROGRESSING);
	CHECK_EQ_INT(s.stage, 1);
}

static void resume_shifts_the_window_by_the_paused_time(void)
{
	struct rollout_state s;

	load(three_stages, NULL);
	s = go(started(), CMD_PAUSE, NULL, T0 + 500);
	CHECK_EQ_INT(s.phase, ROLLOUT_PAUSED);
	CHECK_EQ_INT(s.paused_at, T0 + 500);
	CHECK_EQ_INT(acts.n, 1);
	check_event(0, "paused", "paused by alice");
	/* an evaluation while paused does nothing, even past the window */
	s = go(s, CMD_EVALUATE, pass(), CANARY_END + 10);
	CHECK_EQ_INT(acts.n, 0);
	CHECK_EQ_INT(s.phase, ROLLOUT_PAUSED);
	s = go(s, CMD_RESUME, NULL, T0 + 1100);
	CHECK_EQ_INT(s.phase, ROLLOUT_PROGRESSING);
	CHECK_EQ_INT(s.paused_at, 0);
	CHECK_EQ_INT(s.stage_started_at, T0);
	CHECK_EQ_INT(s.window_ends_at, CANARY_END + 600);
	check_event(0, "resumed",
		    "resumed by alice after 10m paused; window extended");
	s = go(s, CMD_EVALUATE, pass(), CANARY_END + 599);
	CHECK_EQ_INT(s.stage, 0);
	s = go(s, CMD_EVALUATE, pass(), CANARY_END + 600);
	CHECK_EQ_INT(s.stage, 1);
}

static void pausing_while_awaiting_approval_then_resuming_decides_again(void)
{
	struct rollout_state s;

	load(approval_stages, NULL);
	s = go(started(), CMD_EVALUATE, pass(), T0 + 600);
	s = go(s, CMD_PAUSE, NULL, T0 + 700);
	CHECK_EQ_INT(s.phase, ROLLOUT_PAUSED);
	s = go(s, CMD_RESUME, NULL, T0 + 800);
	CHECK_EQ_INT(s.phase, ROLLOUT_PROGRESSING);
	CHECK_EQ_INT(s.window_ends_at, T0 + 700);
	s = go(s, CMD_EVALUATE, pass(), T0 + 810);
	CHECK_EQ_INT(s.phase, ROLLOUT_AWAITING_APPROVAL);
}

static void rollback_and_abort_revert_from_every_active_state(void)
{
	struct rollout_state from[3];

	load(approval_stages, NULL);
	from[0] = started();
	from[1] = go(from[0], CMD_PAUSE, NULL, T0 + 1);
	from[2] = go(from[0], CMD_EVALUATE, pass(), T0 + 600);
	for (int i = 0; i < 3; i++) {
		struct rollout_state n = go(from[i], CMD_ROLLBACK, NULL, T0 + 900);

		CHECK_EQ_INT(n.phase, ROLLOUT_ROLLED_BACK);
		CHECK_EQ_INT(n.paused_at, 0);
		CHECK_EQ_INT(acts.n, 2);
		check_action(0, ACTION_REVERT, 0);
		check_event(1, "rolled_back", "rolled back by alice");
		n = go(from[i], CMD_ABORT, NULL, T0 + 900);
		CHECK_EQ_INT(n.phase, ROLLOUT_ABORTED);
		CHECK_EQ_INT(acts.n, 2);
		check_action(0, ACTION_REVERT, 0);
		check_event(1, "aborted", "aborted by alice");
	}
}

/* One valid state per phase, made by real transitions. */
static void states_of_every_phase(struct rollout_state s[6])
{
	load(approval_stages, NULL);
	s[ROLLOUT_PROGRESSING] = started();
	s[ROLLOUT_PAUSED] = go(s[0], CMD_PAUSE, NULL, T0 + 1);
	s[ROLLOUT_AWAITING_APPROVAL] = go(s[0], CMD_EVALUATE, pass(), T0 + 600);
	s[ROLLOUT_SUCCEEDED] = go(go(s[0], CMD_PROMOTE_FULL, NULL, T0 + 1),
				  CMD_PROMOTE, NULL, T0 + 2);
	s[ROLLOUT_ROLLED_BACK] = go(s[0], CMD_ROLLBACK, NULL, T0 + 1);
	s[ROLLOUT_ABORTED] = go(s[0], CMD_ABORT, NULL, T0 + 1);
	for (int i = 0; i < 6; i++)
		CHECK_EQ_INT(s[i].phase, i);
}

static void every_verb_from_every_state(void)
{
	/* 1: allowed, 0: RAMP_ECONFLICT; rows: phases, columns: commands
	 * evaluate pause resume approve promote promote_full rollback abort */
	static const int allowed[6][8] = {
		[ROLLOUT_PROGRESSING] = {1, 1, 0, 0, 1, 1, 1, 1},
		[ROLLOUT_PAUSED] = {1, 0, 1, 0, 1, 1, 1, 1},
		[ROLLOUT_AWAITING_APPROVAL] = {1, 1, 0, 1, 1, 1, 1, 1},
		[ROLLOUT_SUCCEEDED] = {1, 0, 0, 0, 0, 0, 0, 0},
		[ROLLOUT_ROLLED_BACK] = {1, 0, 0, 0, 0, 0, 0, 0},
		[ROLLOUT_ABORTED] = {1, 0, 0, 0, 0, 0, 0, 0},
	};
	struct rollout_state s[6], n;

	states_of_every_phase(s);
	for (int ph = 0; ph < 6; ph++) {
		for (int cmd = CMD_EVALUATE; cmd <= CMD_ABORT; cmd++) {
			int rc = rollout_step(&pol, &s[ph], cmd, pass(), T0 + 5000,
					      "alice", &n, &acts, &err);

			if (rc != (allowed[ph][cmd] ? 0 : RAMP_ECONFLICT))
				fprintf(stderr, "  phase %d cmd %d: rc %d\n", ph,
					cmd, rc);
			CHECK_EQ_INT(rc, allowed[ph][cmd] ? 0 : RAMP_ECONFLICT);
			if (rc == 0) {
				CHECK(rollout_check_invariants(&pol, &n));
				continue;
			}
			CHECK(same(&n, &s[ph]));
			CHECK_EQ_INT(acts.n, 0);
			CHECK_EQ_INT(err.code, RAMP_ECONFLICT);
			CHECK_EQ_STR(err.field, "state");
		}
	}
	rollout_step(&pol, &s[ROLLOUT_PROGRESSING], CMD_RESUME, NULL, T0, "bob",
		     &n, &acts, &err);
	CHECK_EQ_STR(err.msg, "cannot resume a rollout that is progressing");
	rollout_step(&pol, &s[ROLLOUT_SUCCEEDED], CMD_ROLLBACK, NULL, T0, "bob",
		     &n, &acts, &err);
	CHECK_EQ_STR(err.msg, "cannot roll back a rollout that is succeeded");
}

static void evaluation_in_a_resting_state_does_nothing(void)
{
	struct rollout_state s[6], n;

	states_of_every_phase(s);
	for (int ph = ROLLOUT_PAUSED; ph <= ROLLOUT_ABORTED; ph++) {
		n = go(s[ph], CMD_EVALUATE, failing(), T0 + 100000);
		CHECK(same(&n, &s[ph]));
		CHECK_EQ_INT(acts.n, 0);
	}
}

static void verbs_name_system_without_an_actor(void)
{
	struct rollout_state s, n;

	load(three_stages, NULL);
	s = started();
	CHECK_EQ_INT(rollout_step(&pol, &s, CMD_PAUSE, NULL, T0 + 1, NULL, &n,
				  &acts, &err),
		     0);
	check_event(0, "paused", "paused by system");
}

static void inconsistent_state_is_refused(void)
{
	struct rollout_state s, bad, n;

	load(three_stages, NULL);
	s = started();
	bad = s;
	bad.stage = 3;
	CHECK_EQ_INT(rollout_step(&pol, &bad, CMD_EVALUATE, pass(), T0, "x", &n,
				  &acts, &err),
		     RAMP_EINTERNAL);
	bad = s;
	bad.failing = 1; /* at the limit yet still progressing */
	CHECK(!rollout_check_invariants(&pol, &bad));
	bad = s;
	bad.window_ends_at = T0 + 1799; /* shorter than the stage's window */
	CHECK(!rollout_check_invariants(&pol, &bad));
	bad = s;
	bad.phase = ROLLOUT_AWAITING_APPROVAL; /* canary has no approval */
	CHECK(!rollout_check_invariants(&pol, &bad));
	bad = s;
	bad.phase = ROLLOUT_SUCCEEDED; /* not on the last stage */
	CHECK(!rollout_check_invariants(&pol, &bad));
	bad = s;
	bad.paused_at = T0; /* only a paused rollout has paused_at */
	CHECK(!rollout_check_invariants(&pol, &bad));
	bad = s;
	bad.inconclusive_extensions = 4;
	CHECK(!rollout_check_invariants(&pol, &bad));
	CHECK_EQ_INT(rollout_step(&pol, &s, (enum rollout_cmd)42, NULL, T0, "x",
				  &n, &acts, &err),
		     RAMP_EINVAL);
}

static void phase_names_round_trip(void)
{
	static const char *const names[] = {"progressing", "paused",
					    "awaiting_approval", "succeeded",
					    "rolled_back", "aborted"};

	for (int i = 0; i < 6; i++) {
		CHECK_EQ_STR(rollout_phase_name(i), names[i]);
		CHECK_EQ_INT(rollout_phase_from_name(names[i]), i);
		CHECK_EQ_INT(rollout_phase_is_terminal(i), i >= ROLLOUT_SUCCEEDED);
	}
	CHECK_EQ_INT(rollout_phase_from_name("running"), RAMP_EINVAL);
	CHECK_EQ_INT(rollout_phase_from_name(NULL), RAMP_EINVAL);
	CHECK_EQ_STR(rollout_phase_name((enum rollout_phase)9), "unknown");
}

static const struct unit_case cases[] = {
	UNIT(start_assigns_stage_zero_and_opens_its_window),
	UNIT(passing_evaluation_inside_the_window_changes_nothing),
	UNIT(window_end_with_every_gate_passing_promotes),
	UNIT(early_pass_promotes_before_the_window_ends),
	UNIT(last_stage_passing_succeeds_and_sets_stable),
	UNIT(breach_rolls_back_before_the_window_ends),
	UNIT(failure_limit_counts_consecutive_breaches),
	UNIT(failing_at_window_end_below_the_limit_does_not_promote),
	UNIT(breach_without_enough_data_is_not_counted),
	UNIT(breach_with_automatic_false_pauses),
	UNIT(resume_after_a_breach_pause_clears_the_count),
	UNIT(inconclusive_window_pauses_by_default),
	UNIT(inconclusive_window_rolls_back_when_asked),
	UNIT(inconclusive_window_extends_three_times_then_pauses),
	UNIT(extension_counts_from_now_when_evaluation_is_late),
	UNIT(extended_window_that_passes_promotes_and_resets),
	UNIT(approval_stage_waits_for_approve),
	UNIT(approving_the_last_stage_succeeds),
	UNIT(stage_without_metrics_passes_at_window_end_without_analysis),
	UNIT(gated_stage_without_an_analysis_waits),
	UNIT(promote_ends_the_stage_early),
	UNIT(promote_on_the_last_stage_succeeds),
	UNIT(promote_full_jumps_to_the_last_stage_whose_window_runs),
	UNIT(promote_works_from_paused_and_awaiting_approval),
	UNIT(resume_shifts_the_window_by_the_paused_time),
	UNIT(pausing_while_awaiting_approval_then_resuming_decides_again),
	UNIT(rollback_and_abort_revert_from_every_active_state),
	UNIT(every_verb_from_every_state),
	UNIT(evaluation_in_a_resting_state_does_nothing),
	UNIT(verbs_name_system_without_an_actor),
	UNIT(inconsistent_state_is_refused),
	UNIT(phase_names_round_trip),
	{0},
};
UNIT_MAIN(cases)
