/*
 * serve.h - ramp-runner's HTTP front: POST /v1/infer on the live model,
 * GET /healthz, GET /metrics (libmicrohttpd, a pool of threads).
 */
#ifndef RAMP_RUNNER_SERVE_H
#define RAMP_RUNNER_SERVE_H

#include <arpa/inet.h>

struct agent;

/* Parses "ADDR:PORT" (IPv4) into sa; 0 or -1. */
int serve_parse_listen(const char *s, struct sockaddr_in *sa);

/*
 * Starts serving on sa with threads pool threads.  agent (may be NULL) is
 * only read, for /metrics.  Returns the daemon (a struct MHD_Daemon *) or
 * NULL when it cannot listen.
 */
void *serve_start(const struct sockaddr_in *sa, unsigned threads, struct agent *agent);

/* Stops the daemon; requests in flight finish first. */
void serve_stop(void *daemon);

#endif
