/*
 * workers.c - the worker pool (workers.h): threads that run the requests
 * which may block (the database, a parked upload), off the MHD threads. An
 * MHD thread suspends the connection and submits the request; a worker
 * runs the token lookup or the handler, then resumes the connection (a
 * parked request is resumed by whoever unparks it). One bounded FIFO under
 * one mutex; http_stop() drains it before the daemons stop.
 */
#include "http/workers.h"

#include "http/authz.h"
#include "http/intake.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>

static pthread_mutex_t work_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t idle_cv = PTHREAD_COND_INITIALIZER;
static struct req **work_q;
static size_t work_cap, work_head, work_len, in_flight;
static bool work_stop;
static pthread_t *workers;
static int nworkers;

static void *worker_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct MHD_Connection *conn;
		struct req *r;
		pthread_mutex_lock(&work_mu);
		while (work_len == 0 && !work_stop)
			pthread_cond_wait(&work_cv, &work_mu);
		if (work_len == 0 && work_stop) {
			pthread_mutex_unlock(&work_mu);
			return NULL;
		}
		r = work_q[work_head];
		work_head = (work_head + 1) % work_cap;
		work_len--;
		pthread_mutex_unlock(&work_mu);
		conn = r->conn;
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
		pthread_mutex_lock(&work_mu);
		if (--in_flight == 0)
			pthread_cond_broadcast(&idle_cv);
		pthread_mutex_unlock(&work_mu);
	}
}

bool http_workers_submit(struct req *r)
{
	bool ok = false;

	pthread_mutex_lock(&work_mu);
	if (work_len < work_cap && !work_stop) {
		work_q[(work_head + work_len) % work_cap] = r;
		work_len++;
		in_flight++;
		ok = true;
		pthread_cond_signal(&work_cv);
	}
	pthread_mutex_unlock(&work_mu);
	return ok;
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
	work_cap = 4096;
	work_q = calloc(work_cap, sizeof(*work_q));
	workers = calloc((size_t)n, sizeof(*workers));
	if (work_q == NULL || workers == NULL)
		return RAMP_ENOMEM;
	for (nworkers = 0; nworkers < n; nworkers++)
		if (pthread_create(&workers[nworkers], NULL, worker_main, NULL) != 0)
			return RAMP_EINTERNAL;
	return 0;
}

void http_workers_drain(void)
{
	/* stop first: under steady load new work would keep in_flight above 0
	 * for ever; the workers still empty the queue before they exit */
	pthread_mutex_lock(&work_mu);
	work_stop = true;
	pthread_cond_broadcast(&work_cv);
	while (in_flight > 0)
		pthread_cond_wait(&idle_cv, &work_mu);
	pthread_mutex_unlock(&work_mu);
}

void http_workers_join(void)
{
	for (int i = 0; i < nworkers; i++)
		pthread_join(workers[i], NULL);
	free(workers);
	free(work_q);
	workers = NULL;
	work_q = NULL;
	nworkers = 0;
}
