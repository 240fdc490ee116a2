/*
 * metrics.c - the HTTP figures and their Prometheus text (metrics.h):
 * requests by route and status, the latency histogram, and the
 * connection, timeout, TLS and rate-limit figures of docs/security.md.
 * Counted on the MHD threads as each request completes (atomics, no
 * lock); the text is written on the MHD thread that answers GET /metrics
 * (an inline route). Sits under api/ops.c, which serves it.
 */
#include "http/metrics.h"

#include "auth/auth.h"
#include "common/buf.h"
#include "http/conns.h"
#include "http/ratelimit.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_ROUTES 128
#define METRICS_TEXT_MAX ((size_t)4 << 20) /* far above any real page */
static const int status_codes[] = {200, 201, 202, 204, 206, 304, 400, 401, 403, 404,
				   405, 409, 413, 415, 416, 422, 429, 500, 503, 507};
#define NSTATUS (sizeof(status_codes) / sizeof(status_codes[0]))
static const double lat_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
				    0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
#define NLAT (sizeof(lat_bounds) / sizeof(lat_bounds[0]))

static atomic_ulong route_status[MAX_ROUTES + 1][NSTATUS + 1];
static atomic_ulong lat_counts[NLAT + 1];
static atomic_ulong lat_sum_us;
static atomic_ulong request_timeouts;
static int idle_timeout_s; /* RAMP_CONN_TIMEOUT, for the gauge */
static int tls_enabled;
static const struct route *routes_; /* what http_start() serves */

void http_metrics_start(int conn_timeout_s, bool tls, const struct route *routes)
{
	routes_ = routes;
	idle_timeout_s = conn_timeout_s;
	tls_enabled = tls;
}

void http_metrics_timeout(void)
{
	atomic_fetch_add(&request_timeouts, 1);
}

void http_metrics_count(const struct req *r, double dur)
{
	size_t si = NSTATUS, li = NLAT;
	int ri = r->route_index >= 0 ? r->route_index : MAX_ROUTES;

	for (size_t i = 0; i < NSTATUS; i++)
		if (status_codes[i] == r->status)
			si = i;
	for (size_t i = 0; i < NLAT; i++)
		if (dur <= lat_bounds[i]) {
			li = i;
			break;
		}
	atomic_fetch_add(&route_status[ri][si], 1);
	atomic_fetch_add(&lat_counts[li], 1);
	atomic_fetch_add(&lat_sum_us, (unsigned long)(dur * 1e6));
}

char *http_metrics_text(struct arena *a)
{
	struct buf b;
	unsigned long cum = 0;
	char *out;

	buf_init(&b, METRICS_TEXT_MAX);
	buf_printf(&b,
		   "# HELP ramp_http_requests_total HTTP requests answered, by route and status.\n"
		   "# TYPE ramp_http_requests_total counter\n");
	for (int i = 0; routes_ && routes_[i].method && i < MAX_ROUTES; i++)
		for (size_t s = 0; s <= NSTATUS; s++) {
			unsigned long v = atomic_load(&route_status[i][s]);
			if (v)
				buf_printf(&b,
					   "ramp_http_requests_total{method=\"%s\",route=\"%s\",code=\"%d\"} %lu\n",
					   routes_[i].method, routes_[i].pattern,
					   s < NSTATUS ? status_codes[s] : 0, v);
		}
	buf_printf(&b,
		   "# HELP ramp_http_request_duration_seconds Time from request to response.\n"
		   "# TYPE ramp_http_request_duration_seconds histogram\n");
	for (size_t i = 0; i <= NLAT; i++) {
		cum += atomic_load(&lat_counts[i]);
		if (i < NLAT)
			buf_printf(&b,
				   "ramp_http_request_duration_seconds_bucket{le=\"%g\"} %lu\n",
				   lat_bounds[i], cum);
		else
			buf_printf(&b,
				   "ramp_http_request_duration_seconds_bucket{le=\"+Inf\"} %lu\n", cum);
	}
	buf_printf(&b,
		   "ramp_http_request_duration_seconds_sum %.6f\n"
		   "ramp_http_request_duration_seconds_count %lu\n",
		   (double)atomic_load(&lat_sum_us) / 1e6, cum);
	out = buf_failed(&b) ? NULL : arena_strndup(a, b.p, b.len);
	buf_free(&b);
	return out;
}

char *http_limits_metrics_text(struct arena *a)
{
	struct conns_stats cs;
	uint64_t refused[RATELIMIT_ROLES];
	struct buf b;
	char *out;

	buf_init(&b, METRICS_TEXT_MAX);
	conns_stats(&cs);
	ratelimit_refused(refused);
	buf_printf(&b,
		   "# HELP ramp_http_connections_open Client connections open now.\n"
		   "# TYPE ramp_http_connections_open gauge\n"
		   "ramp_http_connections_open %llu\n"
		   "# HELP ramp_http_connections_max Connections allowed at once (RAMP_MAX_CONNECTIONS).\n"
		   "# TYPE ramp_http_connections_max gauge\n"
		   "ramp_http_connections_max %d\n"
		   "# HELP ramp_http_connections_total Client connections accepted.\n"
		   "# TYPE ramp_http_connections_total counter\n"
		   "ramp_http_connections_total %llu\n"
		   "# HELP ramp_http_connections_refused_total Connections refused at the limit.\n"
		   "# TYPE ramp_http_connections_refused_total counter\n"
		   "ramp_http_connections_refused_total %llu\n"
		   "# HELP ramp_http_header_timeout_seconds Time a client has for a request's headers (RAMP_HEADER_TIMEOUT).\n"
		   "# TYPE ramp_http_header_timeout_seconds gauge\n"
		   "ramp_http_header_timeout_seconds %d\n"
		   "# HELP ramp_http_header_timeouts_total Connections cut off for headers (or a TLS handshake) overdue.\n"
		   "# TYPE ramp_http_header_timeouts_total counter\n"
		   "ramp_http_header_timeouts_total %llu\n"
		   "# HELP ramp_http_idle_timeout_seconds Silence after which a connection is closed (RAMP_CONN_TIMEOUT).\n"
		   "# TYPE ramp_http_idle_timeout_seconds gauge\n"
		   "ramp_http_idle_timeout_seconds %d\n"
		   "# HELP ramp_http_request_timeouts_total Requests ended by the idle timeout mid-way.\n"
		   "# TYPE ramp_http_request_timeouts_total counter\n"
		   "ramp_http_request_timeouts_total %lu\n"
		   "# HELP ramp_tls_enabled Whether RAMP_LISTEN serves HTTPS.\n"
		   "# TYPE ramp_tls_enabled gauge\n"
		   "ramp_tls_enabled %d\n"
		   "# HELP ramp_tls_client_certs_total Client certificates seen, by verification result.\n"
		   "# TYPE ramp_tls_client_certs_total counter\n"
		   "ramp_tls_client_certs_total{result=\"valid\"} %llu\n"
		   "ramp_tls_client_certs_total{result=\"untrusted\"} %llu\n",
		   (unsigned long long)cs.open, cs.max_connections, (unsigned long long)cs.total,
		   (unsigned long long)cs.refused, cs.header_timeout_s,
		   (unsigned long long)cs.header_timeouts, idle_timeout_s,
		   atomic_load(&request_timeouts), tls_enabled,
		   (unsigned long long)cs.certs_valid, (unsigned long long)cs.certs_untrusted);
	buf_printf(&b,
		   "# HELP ramp_rate_limit_per_second Requests per second each token of a role may make (0: unlimited).\n"
		   "# TYPE ramp_rate_limit_per_second gauge\n");
	for (int i = 0; i < RATELIMIT_ROLES; i++)
		buf_printf(&b, "ramp_rate_limit_per_second{role=\"%s\"} %g\n", auth_role_name(1 << i),
			   ratelimit_setting(i).per_s);
	buf_printf(&b,
		   "# HELP ramp_rate_limit_burst Requests a token of a role may make at once.\n"
		   "# TYPE ramp_rate_limit_burst gauge\n");
	for (int i = 0; i < RATELIMIT_ROLES; i++)
		buf_printf(&b, "ramp_rate_limit_burst{role=\"%s\"} %g\n", auth_role_name(1 << i),
			   ratelimit_setting(i).burst);
	buf_printf(&b,
		   "# HELP ramp_rate_limited_total Requests refused with 429, by role.\n"
		   "# TYPE ramp_rate_limited_total counter\n");
	for (int i = 0; i < RATELIMIT_ROLES; i++)
		buf_printf(&b, "ramp_rate_limited_total{role=\"%s\"} %llu\n", auth_role_name(1 << i),
			   (unsigned long long)refused[i]);
	buf_printf(&b,
		   "# HELP ramp_http_body_timeout_seconds Time a request has for its body (RAMP_BODY_TIMEOUT).\n"
		   "# TYPE ramp_http_body_timeout_seconds gauge\n"
		   "ramp_http_body_timeout_seconds %d\n"
		   "# HELP ramp_http_body_min_rate_bytes Bytes a second a body must keep up (RAMP_BODY_MIN_RATE).\n"
		   "# TYPE ramp_http_body_min_rate_bytes gauge\n"
		   "ramp_http_body_min_rate_bytes %d\n"
		   "# HELP ramp_http_body_timeouts_total Connections cut off for a body overdue or too slow.\n"
		   "# TYPE ramp_http_body_timeouts_total counter\n"
		   "ramp_http_body_timeouts_total %llu\n",
		   cs.body_timeout_s, cs.body_min_rate, (unsigned long long)cs.body_timeouts);
	out = buf_failed(&b) ? NULL : arena_strndup(a, b.p, b.len);
	buf_free(&b);
	return out;
}
