/*
 * reply.h - handing a request's reply to libmicrohttpd (reply.c). Internal
 * to server/http; the replies handlers give are declared in http.h.
 */
#ifndef RAMP_HTTP_REPLY_H
#define RAMP_HTTP_REPLY_H

#include "http/http.h"

#include <microhttpd.h>

/* Queues r's reply (or its prebuilt response) on its connection: the
 * response goes out once the access handler returns. MHD_NO when it cannot. */
enum MHD_Result http_reply_send(struct req *r);

#endif
