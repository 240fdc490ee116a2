/*
 * ctl.h - the agent's side of the controller API over libcurl: the desired
 * poll with ETag, status reports and telemetry posts (API.md "Agents",
 * "Telemetry").
 *
 * One struct ctl per thread (it owns a curl handle, so connections are kept
 * alive between calls).  curl_global_init() must have run before ctl_init().
 */
#ifndef RAMP_AGENT_CTL_H
#define RAMP_AGENT_CTL_H

#include <jansson.h>
#include <signal.h>
#include <stddef.h>

#include "common/err.h"

#define CTL_MAX_BODY (8 * 1024 * 1024)

struct ctl {
	char base[512];		/* "http://host:port", no trailing slash */
	char token[256];	/* "" sends no Authorization header (certificate alone) */
	char cert[512], key[512], ca[512]; /* client certificate and key, CA bundle ("" none) */
	char agent_version[64];
	void *curl;		/* CURL * */
	const volatile sig_atomic_t *cancel; /* when not NULL and set, transfers stop */
};

/* Sets up c; 0 or RAMP_EINVAL (base too long or not http(s)) / RAMP_ENOMEM. */
int ctl_init(struct ctl *c, const char *base, const char *token, const char *agent_version,
	     struct ramp_err *err);
/* Sets the client certificate, its key and the CA bundle for https (any may be ""). */
void ctl_set_tls(struct ctl *c, const char *cert, const char *key, const char *ca);

/* Applies c's TLS settings to a curl handle (CURL *); with_cert 0 leaves the certificate out. */
void ctl_apply_tls(const struct ctl *c, void *curl, int with_cert);

/* Frees c's handle; a zeroed c is a no-op. */
void ctl_free(struct ctl *c);

/*
 * GET /v1/agent/desired with If-None-Match etag (when not empty).  Returns
 * the HTTP status (200: *body malloc'd NUL-terminated text, *len, etag
 * updated; 304: *body NULL; anything else: *body NULL, err filled) or a
 * negative RAMP_EIO when the controller could not be reached.
 */
int ctl_desired(struct ctl *c, char etag[128], char **body, size_t *len, struct ramp_err *err);

/* POSTs body (not consumed) as JSON to path; the HTTP status, or RAMP_EIO (err filled). */
int ctl_post(struct ctl *c, const char *path, const json_t *body, struct ramp_err *err);

/* Like ctl_post, and *answer (may be NULL) is the parsed JSON answer of any status. */
int ctl_post_answer(struct ctl *c, const char *path, const json_t *body, json_t **answer,
		    struct ramp_err *err);

/* POST /v1/agent/status {model, version, state, detail?}; the HTTP status or RAMP_EIO. */
int ctl_status(struct ctl *c, const char *model, const char *version, const char *state,
	       const char *detail);
/* The same with "delta" (borrowed, may be NULL): how a delta served this install (docs/deltas.md). */
int ctl_status_delta(struct ctl *c, const char *model, const char *version, const char *state,
		     const char *detail, json_t *delta);

/* True when url is on c's controller (same scheme, host and port), so it may get the token. */
int ctl_same_origin(const struct ctl *c, const char *url);

#endif
