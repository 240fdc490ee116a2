/* test_workq.c - the one work queue and the ticker (server/common): jobs
 * run in FIFO order, a full or stopped queue refuses a push, stopping
 * drains and workq_free joins, a timed wait for idle returns on time, and
 * a ticker runs at once, on a kick, again when a round asks, after its
 * period, and lets a long round see the stop. Time is driven by gates the
 * jobs wait on and by kicks; the only waits are generous limits. */
#include "common/clock.h"
#include "common/err.h"
#include "common/ticker.h"
#include "common/workq.h"
#include "unit.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define LIMIT_MS 10000 /* generous: only a broken queue takes this long */

/* A counter threads raise and the test waits on, with a deadline. */
struct latch {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int n;
};

static void latch_init(struct latch *l)
{
	pthread_mutex_init(&l->mu, NULL);
	clock_cond_init(&l->cv);
	l->n = 0;
}

static void latch_add(struct latch *l)
{
	pthread_mutex_lock(&l->mu);
	l->n++;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
}

static int latch_get(struct latch *l)
{
	int n;

	pthread_mutex_lock(&l->mu);
	n = l->n;
	pthread_mutex_unlock(&l->mu);
	return n;
}

/* True once l reaches n within ms. */
static bool latch_wait(struct latch *l, int n, int64_t ms)
{
	struct timespec until = clock_deadline(ms);
	bool ok;

	pthread_mutex_lock(&l->mu);
	while (l->n < n && pthread_cond_timedwait(&l->cv, &l->mu, &until) != ETIMEDOUT)
		;
	ok = l->n >= n;
	pthread_mutex_unlock(&l->mu);
	return ok;
}

/* The queue's jobs: job 0 waits on the gate (so the rest queue up behind
 * it); every job records its number in order. */
static struct {
	struct latch gate, started, done;
	pthread_mutex_t mu;
	int order[64], norder;
} T;

static void fixture(void)
{
	latch_init(&T.gate);
	latch_init(&T.started);
	latch_init(&T.done);
	pthread_mutex_init(&T.mu, NULL);
	T.norder = 0;
}

static void job(void *jobp, void *ctx)
{
	int id = (int)(intptr_t)jobp;

	(void)ctx;
	latch_add(&T.started);
	if (id == 0)
		latch_wait(&T.gate, 1, LIMIT_MS);
	pthread_mutex_lock(&T.mu);
	if (T.norder < 64)
		T.order[T.norder++] = id;
	pthread_mutex_unlock(&T.mu);
	latch_add(&T.done);
}

/* Pushes the gate job and waits until a thread holds it. */
static void hold_a_thread(struct workq *q)
{
	CHECK_EQ_INT(workq_push(q, (void *)(intptr_t)0), 0);
	CHECK(latch_wait(&T.started, 1, LIMIT_MS));
}

static void workq_runs_jobs_in_fifo_order(void)
{
	struct workq *q;

	fixture();
	q = workq_new(16, 1, job, NULL);
	CHECK(q != NULL);
	hold_a_thread(q);
	for (int i = 1; i <= 10; i++)
		CHECK_EQ_INT(workq_push(q, (void *)(intptr_t)i), 0);
	CHECK_EQ_INT(workq_pending(q), 11);
	latch_add(&T.gate);
	CHECK_EQ_INT(workq_wait_idle(q, LIMIT_MS), 0);
	CHECK_EQ_INT(T.norder, 11);
	for (int i = 0; i < T.norder; i++)
		CHECK_EQ_INT(T.order[i], i);
	CHECK_EQ_INT(workq_pending(q), 0);
	workq_free(q);
}

static void workq_refuses_a_push_when_full(void)
{
	struct workq *q;

	fixture();
	q = workq_new(3, 1, job, NULL);
	CHECK(q != NULL);
	hold_a_thread(q); /* taken off the queue: 3 places left */
	for (int i = 1; i <= 3; i++)
		CHECK_EQ_INT(workq_push(q, (void *)(intptr_t)i), 0);
	CHECK_EQ_INT(workq_push(q, (void *)(intptr_t)4), RAMP_EBUSY);
	latch_add(&T.gate);
	CHECK_EQ_INT(workq_wait_idle(q, LIMIT_MS), 0);
	CHECK_EQ_INT(T.norder, 4); /* the refused job never ran */
	CHECK_EQ_INT(workq_push(q, (void *)(intptr_t)5), 0); /* room again */
	CHECK_EQ_INT(workq_wait_idle(q, LIMIT_MS), 0);
	CHECK_EQ_INT(T.order[4], 5);
	workq_free(q);
}

static void workq_stop_refuses_new_jobs_and_drains_queued_ones(void)
{
	struct workq *q;

	fixture();
	q = workq_new(8, 2, job, NULL);
	CHECK(q != NULL);
	hold_a_thread(q);
	for (int i = 1; i <= 5; i++)
		CHECK_EQ_INT(workq_push(q, (void *)(intptr_t)i), 0);
	workq_stop(q);
	CHECK_EQ_INT(workq_push(q, (void *)(intptr_t)6), RAMP_EBUSY);
	latch_add(&T.gate);
	CHECK_EQ_INT(workq_wait_idle(q, LIMIT_MS), 0);
	CHECK_EQ_INT(latch_get(&T.done), 6);
	workq_free(q);
	workq_free(NULL); /* a no-op */
}

static struct latch freed;

static void *free_in_background(void *q)
{
	workq_free(q);
	latch_add(&freed);
	return NULL;
}

static void workq_free_waits_for_running_jobs_and_joins(void)
{
	struct workq *q;
	pthread_t th;

	fixture();
	latch_init(&freed);
	q = workq_new(8, 4, job, NULL);
	CHECK(q != NULL);
	hold_a_thread(q);
	for (int i = 1; i <= 3; i++)
		CHECK_EQ_INT(workq_push(q, (void *)(intptr_t)i), 0);
	CHECK(latch_wait(&T.done, 3, LIMIT_MS)); /* the others ran */
	CHECK_EQ_INT(pthread_create(&th, NULL, free_in_background, q), 0);
	/* the gate job still runs: workq_free must not return */
	CHECK(!latch_wait(&freed, 1, 200));
	CHECK_EQ_INT(latch_get(&T.done), 3);
	latch_add(&T.gate);
	CHECK(latch_wait(&freed, 1, LIMIT_MS));
	CHECK_EQ_INT(latch_get(&T.done), 4); /* done before free returned */
	pthread_join(th, NULL);
}

static void workq_wait_idle_returns_on_time(void)
{
	struct workq *q;
	int64_t t0, took;

	fixture();
	q = workq_new(4, 1, job, NULL);
	CHECK(q != NULL);
	hold_a_thread(q);
	t0 = clock_mono_ms();
	CHECK_EQ_INT(workq_wait_idle(q, 150), RAMP_EBUSY);
	took = clock_mono_ms() - t0;
	CHECK(took >= 149); /* not cut short */
	CHECK(took < LIMIT_MS); /* and not stretched without end */
	CHECK_EQ_INT(workq_pending(q), 1);
	latch_add(&T.gate);
	CHECK_EQ_INT(workq_wait_idle(q, LIMIT_MS), 0);
	workq_free(q);
}

/* The ticker's rounds: counted, and the time of each kept. */
static struct {
	struct latch rounds;
	int more; /* rounds still to ask for another at once */
	int64_t at_ms[16];
	bool saw_stop;
	bool long_round;
} K;

static bool round_fn(struct ticker *t, void *ctx)
{
	int n = latch_get(&K.rounds);

	(void)ctx;
	if (n < 16)
		K.at_ms[n] = clock_mono_ms();
	if (K.long_round) {
		latch_add(&K.rounds);
		while (!ticker_stopping(t))
			; /* until the stop is seen (the unit's alarm ends a hang) */
		K.saw_stop = true;
		return false;
	}
	latch_add(&K.rounds);
	return K.more-- > 0;
}

static void ticker_fixture(void)
{
	memset(&K, 0, sizeof(K));
	latch_init(&K.rounds);
}

static void ticker_runs_at_once_and_when_kicked(void)
{
	struct ticker *t;

	ticker_fixture();
	t = ticker_start(3600 * 1000, round_fn, NULL); /* the period never comes */
	CHECK(t != NULL);
	CHECK(latch_wait(&K.rounds, 1, LIMIT_MS));
	ticker_kick(t);
	CHECK(latch_wait(&K.rounds, 2, LIMIT_MS));
	ticker_kick(t);
	CHECK(latch_wait(&K.rounds, 3, LIMIT_MS));
	ticker_stop(t);
	CHECK_EQ_INT(latch_get(&K.rounds), 3);
	ticker_stop(NULL); /* a no-op */
}

static void ticker_runs_again_at_once_when_a_round_asks(void)
{
	struct ticker *t;

	ticker_fixture();
	K.more = 3;
	t = ticker_start(3600 * 1000, round_fn, NULL);
	CHECK(t != NULL);
	CHECK(latch_wait(&K.rounds, 4, LIMIT_MS));
	ticker_stop(t);
	CHECK_EQ_INT(latch_get(&K.rounds), 4);
}

static void ticker_waits_its_period_between_rounds(void)
{
	struct ticker *t;

	ticker_fixture();
	t = ticker_start(150, round_fn, NULL);
	CHECK(t != NULL);
	CHECK(latch_wait(&K.rounds, 3, LIMIT_MS));
	ticker_stop(t);
	for (int i = 1; i < 3; i++) {
		int64_t gap = K.at_ms[i] - K.at_ms[i - 1];
		CHECK(gap >= 149);
		CHECK(gap < LIMIT_MS);
	}
}

static void ticker_stop_is_seen_by_a_long_round(void)
{
	struct ticker *t;

	ticker_fixture();
	K.long_round = true;
	t = ticker_start(3600 * 1000, round_fn, NULL);
	CHECK(t != NULL);
	CHECK(latch_wait(&K.rounds, 1, LIMIT_MS));
	ticker_stop(t); /* returns only once the round saw it and ended */
	CHECK(K.saw_stop);
	CHECK_EQ_INT(latch_get(&K.rounds), 1);
}

static const struct unit_case cases[] = {
	UNIT(workq_runs_jobs_in_fifo_order),
	UNIT(workq_refuses_a_push_when_full),
	UNIT(workq_stop_refuses_new_jobs_and_drains_queued_ones),
	UNIT(workq_free_waits_for_running_jobs_and_joins),
	UNIT(workq_wait_idle_returns_on_time),
	UNIT(ticker_runs_at_once_and_when_kicked),
	UNIT(ticker_runs_again_at_once_when_a_round_asks),
	UNIT(ticker_waits_its_period_between_rounds),
	UNIT(ticker_stop_is_seen_by_a_long_round),
	{0},
};

UNIT_MAIN(cases)
