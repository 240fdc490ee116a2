/*
 * metrics.h - the HTTP layer's figures for /metrics (metrics.c). Internal
 * to server/http; handlers read the text through http_metrics_text() and
 * http_limits_metrics_text() in http.h.
 */
#ifndef RAMP_HTTP_METRICS_H
#define RAMP_HTTP_METRICS_H

#include "http/http.h"

#include <stdbool.h>

/* The settings the gauges show and the routes counted; called by
 * http_start(). */
void http_metrics_start(int conn_timeout_s, bool tls, const struct route *routes);
/* Counts a finished request: its route and status, and how long it took (s). */
void http_metrics_count(const struct req *r, double dur);
/* Counts a request ended by the idle timeout. */
void http_metrics_timeout(void);

#endif
