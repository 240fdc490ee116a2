/*
 * intake.h - the HTTP core's handling of a request between its headers and
 * its handler (intake.c), and what it uses of http.c. Internal to
 * server/http.
 */
#ifndef RAMP_INTAKE_H
#define RAMP_INTAKE_H

#include "http/http.h"

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

struct conn;

/* The headers are in (first call of the access handler): the gate, then
 * the token; refuses or admits, or suspends r while a worker looks the
 * token up (r->gating). */
enum MHD_Result intake_headers(struct req *r);
/* r is back from that worker (still before its body). */
enum MHD_Result intake_resumed(struct req *r);
/* n body bytes arrived: streamed, dropped, or collected. */
enum MHD_Result intake_chunk(struct req *r, const char *data, size_t n);

/* From http.c. */
/* http.c */
struct conn *http_conn(struct MHD_Connection *c); /* conns.c's record of c */
const struct route *http_table(void);              /* the routes http_start() got */
/* Runs r's handler (404, 413 or the authorization first, when still due);
 * true when the handler parked r, whose reply is then another thread's. */
bool http_dispatch(struct req *r);

#endif
