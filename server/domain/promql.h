/*
 * promql.h - Prometheus as a metric provider for stage gates (docs/
 * telemetry.md "Gating on Prometheus"), the pure parts: the policy's
 * `provider: {prometheus: {...}}` block, the query templates with their
 * variables rendered as PromQL string escapes, and the reading of an
 * /api/v1/query answer into one value, "no data" or an error that names the
 * query. The HTTP itself is engine/prom_fetch.c's.
 */
#ifndef RAMP_PROMQL_H
#define RAMP_PROMQL_H

#include "common/err.h"
#include "domain/threshold.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define PROM_MAX 8		/* distinct providers in one policy */
#define PROM_QUERY_MAX 2048	/* a query template or a rendered query, with its NUL */
#define PROM_ADDRESS_MAX 512
#define PROM_FILE_MAX 128	/* a secret's file name, under RAMP_PROM_SECRETS_DIR */
#define PROM_TIMEOUT_DEFAULT_S 5
#define PROM_TIMEOUT_MAX_S 10
#define PROM_ERROR_LIMIT_DEFAULT 4

enum prom_auth { PROM_AUTH_NONE, PROM_AUTH_BEARER, PROM_AUTH_BASIC };

struct prom_provider {
	char address[PROM_ADDRESS_MAX];	     /* http(s)://host:port[/prefix] */
	char query[PROM_QUERY_MAX];	     /* template */
	char baseline_query[PROM_QUERY_MAX]; /* "": query with {{version}} = the baseline */
	int timeout_s;			     /* 1..PROM_TIMEOUT_MAX_S */
	int error_limit;		     /* the metric's consecutive_error_limit */
	enum prom_auth auth;
	char token_file[PROM_FILE_MAX];	   /* bearer_token_file */
	char username[128];		   /* basic_auth */
	char password_file[PROM_FILE_MAX]; /* basic_auth */
};

/*
 * Parses the metric's `provider` value (v) at path ("stages[0].metrics[1]
 * .provider") into *out; the error limit is the caller's. Unknown fields
 * are refused. Returns 0 or RAMP_EINVAL with err->field set.
 */
int prom_provider_parse(const json_t *v, const char *path, struct prom_provider *out,
			struct ramp_err *err);

/*
 * The policy's side of a metric with a provider, at path: its own name
 * (valid, and not one of ramp's metrics), the provider, its
 * consecutive_error_limit (1..1000, default 4), the threshold in the query's
 * base units (METRIC_KIND_PROM, text kept as written) and a scope that can
 * only be cohort. 0 or RAMP_EINVAL with err->field set.
 */
int prom_metric_parse(const json_t *metric, const char *path, char name[64],
		      struct prom_provider *pv, struct threshold *t, char text[64],
		      struct ramp_err *err);

/* Adds "provider" and "consecutive_error_limit" to the metric's JSON j when
 * pv is not NULL; returns j, or NULL (j freed) when out of memory. */
json_t *prom_metric_to_json(json_t *j, const struct prom_provider *pv);

/* {"prometheus": {...}} as prom_provider_parse reads it back; NULL on ENOMEM. */
json_t *prom_provider_to_json(const struct prom_provider *p);

bool prom_provider_equal(const struct prom_provider *a, const struct prom_provider *b);

/* The values a template's {{name}} stand for; NULL renders as "". */
struct prom_vars {
	const char *model, *version, *baseline_version, *stage, *rollout;
};

/*
 * Checks that every {{...}} of tmpl names a known variable; 0, or -1 with
 * why. Spaces inside the braces are allowed ("{{ version }}").
 */
int prom_template_check(const char *tmpl, char *why, size_t whylen);

/*
 * Renders tmpl into out[0..n): each variable's value escaped for a PromQL
 * string literal ("..." or '...': backslash, both quotes, and control bytes
 * as \xHH), so a value can never end the string it stands in. version_as
 * overrides {{version}} (the baseline query's default). 0, or -1 when the
 * template is bad or the result does not fit.
 */
int prom_render(const char *tmpl, const struct prom_vars *v, const char *version_as, char *out,
		size_t n);

enum prom_outcome { PROM_VALUE, PROM_NODATA, PROM_ERROR };

/*
 * Reads an /api/v1/query answer (body[0..len), the HTTP status) into
 * *value. PROM_VALUE: a scalar or a vector of exactly one sample (+Inf and
 * -Inf are values). PROM_NODATA: an empty vector, or NaN. PROM_ERROR:
 * anything else (Prometheus's own error, another result type, several
 * series, not JSON), with why. why never holds the query; the caller names it.
 */
enum prom_outcome prom_parse_response(const char *body, size_t len, long http_status,
				      double *value, char *why, size_t whylen);

#endif
