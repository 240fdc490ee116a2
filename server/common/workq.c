/*
 * workq.c - the bounded work queue (workq.h). One mutex guards a ring of
 * job pointers; `more` wakes the threads when a job arrives or the queue
 * stops, `idle` wakes whoever waits for pending (queued plus running) to
 * reach 0. A thread exits only once the queue is stopped and empty, so a
 * stop drains.
 */
#include "common/workq.h"

#include "common/clock.h"
#include "common/err.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct workq {
	pthread_mutex_t mu;
	pthread_cond_t more, idle;
	void **ring;
	size_t cap, head, len, pending;
	bool stopped;
	workq_fn *fn;
	void *ctx;
	pthread_t *threads;
	int nthreads;
};

static void *thread_main(void *arg)
{
	struct workq *q = arg;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		void *job;

		while (q->len == 0 && !q->stopped)
			pthread_cond_wait(&q->more, &q->mu);
		if (q->len == 0)
			break; /* stopped and drained */
		job = q->ring[q->head];
		q->head = (q->head + 1) % q->cap;
		q->len--;
		pthread_mutex_unlock(&q->mu);
		q->fn(job, q->ctx);
		pthread_mutex_lock(&q->mu);
		if (--q->pending == 0)
			pthread_cond_broadcast(&q->idle);
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

struct workq *workq_new(size_t cap, int n, workq_fn *fn, void *ctx)
{
	struct workq *q = calloc(1, sizeof(*q));

	if (q == NULL)
		return NULL;
	q->cap = cap;
	q->fn = fn;
	q->ctx = ctx;
	q->ring = calloc(cap ? cap : 1, sizeof(*q->ring));
	q->threads = calloc(n > 0 ? (size_t)n : 1, sizeof(*q->threads));
	pthread_mutex_init(&q->mu, NULL);
	if (q->ring == NULL || q->threads == NULL || clock_cond_init(&q->more) != 0) {
		free(q->ring);
		free(q->threads);
		free(q);
		return NULL;
	}
	if (clock_cond_init(&q->idle) != 0) {
		pthread_cond_destroy(&q->more);
		free(q->ring);
		free(q->threads);
		free(q);
		return NULL;
	}
	for (; q->nthreads < n; q->nthreads++)
		if (pthread_create(&q->threads[q->nthreads], NULL, thread_main, q) != 0) {
			workq_free(q); /* joins the ones that did start */
			return NULL;
		}
	return q;
}

int workq_push(struct workq *q, void *job)
{
	int rc = RAMP_EBUSY;

	pthread_mutex_lock(&q->mu);
	if (q->len < q->cap && !q->stopped) {
		q->ring[(q->head + q->len) % q->cap] = job;
		q->len++;
		q->pending++;
		pthread_cond_signal(&q->more);
		rc = 0;
	}
	pthread_mutex_unlock(&q->mu);
	return rc;
}

size_t workq_pending(struct workq *q)
{
	size_t n;

	pthread_mutex_lock(&q->mu);
	n = q->pending;
	pthread_mutex_unlock(&q->mu);
	return n;
}

int workq_wait_idle(struct workq *q, int64_t ms)
{
	struct timespec until = clock_deadline(ms < 0 ? 0 : ms);
	int rc = 0;

	pthread_mutex_lock(&q->mu);
	while (q->pending > 0 && rc != ETIMEDOUT) {
		if (ms < 0)
			pthread_cond_wait(&q->idle, &q->mu);
		else
			rc = pthread_cond_timedwait(&q->idle, &q->mu, &until);
	}
	rc = q->pending > 0 ? RAMP_EBUSY : 0;
	pthread_mutex_unlock(&q->mu);
	return rc;
}

void workq_stop(struct workq *q)
{
	pthread_mutex_lock(&q->mu);
	q->stopped = true;
	pthread_cond_broadcast(&q->more);
	pthread_mutex_unlock(&q->mu);
}

void workq_free(struct workq *q)
{
	if (q == NULL)
		return;
	workq_stop(q);
	for (int i = 0; i < q->nthreads; i++)
		pthread_join(q->threads[i], NULL);
	pthread_cond_destroy(&q->more);
	pthread_cond_destroy(&q->idle);
	pthread_mutex_destroy(&q->mu);
	free(q->threads);
	free(q->ring);
	free(q);
}
