/*
 * workq.h - ramp's one work queue, on the one clock (clock.h): a bounded
 * FIFO of jobs run by threads of its own, in the order they were pushed.
 * A push never blocks and never grows the queue: a full queue refuses the
 * job (the caller answers 503 or drops it, loudly). Stopping refuses new
 * jobs but still runs every queued one (drain, not discard); workq_free
 * joins the threads. Every wait is on the monotonic clock.
 */
#ifndef RAMP_WORKQ_H
#define RAMP_WORKQ_H

#include <stddef.h>
#include <stdint.h>

struct workq;

/* Runs one job on a queue thread; ctx is the one given to workq_new. */
typedef void workq_fn(void *job, void *ctx);

/* A queue of at most cap jobs run by n threads, each calling fn(job, ctx);
 * NULL when memory or a thread could not be had (nothing is left running). */
struct workq *workq_new(size_t cap, int n, workq_fn *fn, void *ctx);
/* Queues job behind those already queued: 0, or RAMP_EBUSY when the queue
 * is full or stopped (the job is not taken: the caller still owns it). */
int workq_push(struct workq *q, void *job);
/* Jobs queued or running right now. */
size_t workq_pending(struct workq *q);
/* Waits until no job is queued or running: 0, or RAMP_EBUSY when ms (on the
 * monotonic clock) ran out first; ms < 0 waits as long as it takes. */
int workq_wait_idle(struct workq *q, int64_t ms);
/* Refuses new jobs from now on; queued ones still run. Returns at once. */
void workq_stop(struct workq *q);
/* Stops q, lets the threads finish every queued job, joins them and frees
 * q. NULL is a no-op. */
void workq_free(struct workq *q);

#endif
