/*
 * workers.c - the worker pool (workers.h): threads that run the requests
 * which may block (the database, a parked upload), off the MHD threads. An
 * MHD thread suspends the connection and submits the request; a worker
 * runs the token lookup or the handler, then resumes the connection (a
 * parked request is resumed by whoever unparks it). The pool is a workq
 * (common/workq.h) of WORK_QUEUE_CAP requests; http_stop() stops and
 * drains it before the daemons stop.
 */
#include "http/workers.h"

#include "common/workq.h"
#include "http/authz.h"
#include "http/intake.h"

#include <microhttpd.h>
#include <stddef.h>

#define WORK_QUEUE_CAP 4096

static struct workq *pool;

static void run_request(void *job, void *ctx)
{
	struct req *r = job;
	struct MHD_Connection *conn = r->conn;

	(void)ctx;
	r->in_worker = true;
	r->defer = false;
	if (r->gating) {
		/* the token is not in memory: the database decides, then the
		 * gate goes on on the MHD thread (on_request) */
		r->authorized = http_authorize(r);
		r->in_worker = false;
		MHD_resume_connection(conn);
	} else if (!http_dispatch(r)) {
		MHD_resume_connection(conn); /* parked ones are resumed by http_unpark */
	}
}

bool http_workers_submit(struct req *r)
{
	return pool != NULL && workq_push(pool, r) == 0;
}

bool http_defer(struct req *r)
{
	if (r->in_worker)
		return false;
	r->defer = true;
	return true;
}

int http_workers_start(int n)
{
	pool = workq_new(WORK_QUEUE_CAP, n, run_request, NULL);
	return pool ? 0 : RAMP_ENOMEM;
}

void http_workers_drain(void)
{
	/* stop first: under steady load new work would keep the queue busy
	 * for ever; the workers still empty the queue before they exit */
	if (pool == NULL)
		return;
	workq_stop(pool);
	workq_wait_idle(pool, -1);
}

void http_workers_join(void)
{
	workq_free(pool);
	pool = NULL;
}
