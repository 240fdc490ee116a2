/*
 * ticker.c - the periodic loop (ticker.h). The thread sleeps on a
 * monotonic-clock condition between rounds; a kick or a stop sets a flag
 * under the mutex and signals, so neither is lost while a round runs.
 */
#include "common/ticker.h"

#include "common/clock.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

struct ticker {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	int64_t period_ms;
	ticker_fn *fn;
	void *ctx;
	bool kicked, stop;
};

static void *thread_main(void *arg)
{
	struct ticker *t = arg;
	bool again = true;

	pthread_mutex_lock(&t->mu);
	while (!t->stop) {
		if (!again) {
			struct timespec until = clock_deadline(t->period_ms);

			while (!t->kicked && !t->stop &&
			       pthread_cond_timedwait(&t->cv, &t->mu, &until) != ETIMEDOUT)
				;
			if (t->stop)
				break;
		}
		t->kicked = false;
		pthread_mutex_unlock(&t->mu);
		again = t->fn(t, t->ctx);
		pthread_mutex_lock(&t->mu);
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

struct ticker *ticker_start(int64_t period_ms, ticker_fn *fn, void *ctx)
{
	struct ticker *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->period_ms = period_ms;
	t->fn = fn;
	t->ctx = ctx;
	pthread_mutex_init(&t->mu, NULL);
	if (clock_cond_init(&t->cv) != 0) {
		free(t);
		return NULL;
	}
	if (pthread_create(&t->thread, NULL, thread_main, t) != 0) {
		pthread_cond_destroy(&t->cv);
		free(t);
		return NULL;
	}
	return t;
}

void ticker_kick(struct ticker *t)
{
	pthread_mutex_lock(&t->mu);
	t->kicked = true;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
}

bool ticker_stopping(struct ticker *t)
{
	bool s;

	pthread_mutex_lock(&t->mu);
	s = t->stop;
	pthread_mutex_unlock(&t->mu);
	return s;
}

void ticker_stop(struct ticker *t)
{
	if (t == NULL)
		return;
	pthread_mutex_lock(&t->mu);
	t->stop = true;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
	pthread_join(t->thread, NULL);
	pthread_cond_destroy(&t->cv);
	pthread_mutex_destroy(&t->mu);
	free(t);
}
