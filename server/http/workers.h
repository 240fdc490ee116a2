/*
 * workers.h - the worker pool of the HTTP layer (workers.c). Internal to
 * server/http: submitted by the MHD threads, run by the pool's own.
 */
#ifndef RAMP_HTTP_WORKERS_H
#define RAMP_HTTP_WORKERS_H

#include "http/http.h"

#include <stdbool.h>

/* Starts n worker threads; 0, RAMP_ENOMEM, or RAMP_EINTERNAL. */
int http_workers_start(int n);
/* Hands a suspended request to a worker: it authorizes r (r->gating) or
 * dispatches it, then resumes the connection. False when the queue is full
 * or stopping (the caller resumes and answers 503). */
bool http_workers_submit(struct req *r);
/* Refuses new requests, then waits until none is queued or in a worker's
 * hands. */
void http_workers_drain(void);
/* Joins the threads and frees the queue (after the daemons stopped). */
void http_workers_join(void);

#endif
