/*
 * delta.h - the two JSON shapes of a delta, parsed purely (no I/O):
 *  - the offer inside a desired model entry, read by agents:
 *      "delta": {"from": "sha256:<old>", "url": "...", "digest": "sha256:<d>",
 *                "size": <bytes>, "format": "zstd-patch"}
 *  - the registration CI posts to POST /v1/deltas:
 *      {"from": "sha256:<old>", "to": "sha256:<new>", "digest": "sha256:<d>",
 *       "format": "zstd-patch"}
 * Both refuse unknown fields and any other format, and name the field.
 */
#ifndef RAMP_DELTA_H
#define RAMP_DELTA_H

#include "common/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define DELTA_FORMAT "zstd-patch"
#define DELTA_URL_MAX 2048

struct delta_offer {
	char from[72], digest[72]; /* "sha256:<64 lowercase hex>" */
	char url[DELTA_URL_MAX];
	int64_t size;
};

struct delta_meta {
	char from[72], to[72], digest[72];
};

/* What an agent says of a delta in its status report ("delta" of POST
 * /v1/agent/status): used (from, bytes, saved) or not (from?, fallback). */
struct delta_report {
	char from[129];      /* the version it was applied to; "" when absent */
	int64_t bytes, saved; /* -1 when absent */
	char fallback[513];  /* why it was not used; "" when it was */
};

/* True for "sha256:<64 lowercase hex>". */
bool delta_digest_ok(const char *s);
/* Parses an offer object; 0, or RAMP_EINVAL with err's field under prefix. */
int delta_offer_parse(const json_t *obj, const char *prefix, struct delta_offer *out,
		      struct ramp_err *err);
/* Parses a registration body (text of len bytes); 0, RAMP_EMALFORMED or
 * RAMP_EINVAL (from == to, a bad digest, an unknown field), RAMP_ENOMEM. */
int delta_meta_parse(const char *text, size_t len, struct delta_meta *out, struct ramp_err *err);

/* Parses a status report's "delta" object; 0, or RAMP_EINVAL naming the
 * field under prefix. Either bytes and saved, or fallback, must be there. */
int delta_report_parse(const json_t *obj, const char *prefix, struct delta_report *out,
		       struct ramp_err *err);
/* The report as canonical JSON (only the fields it has), the caller's. */
json_t *delta_report_json(const struct delta_report *r);

#endif
