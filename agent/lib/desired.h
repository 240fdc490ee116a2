/*
 * desired.h - the agent's reading of GET /v1/agent/desired (API.md "Agents").
 *
 * Pure: bytes in, struct out.  Nothing here is trusted yet: the manifest,
 * its signature and the file's digest are checked by verify.h before any
 * entry is acted on.  Every error names the field ("models[1].digest").
 */
#ifndef RAMP_AGENT_DESIRED_H
#define RAMP_AGENT_DESIRED_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "domain/delta.h"

#define DESIRED_MAX_BYTES (8 * 1024 * 1024)

/* One entry of "models": what this device should run for one model. */
struct desired_model {
	char model[64];
	char version[129];
	char platform[64];
	char file[256];
	char digest[72];	/* "sha256:<64 hex>" */
	int64_t size;		/* -1 when absent */
	char *url;		/* where to download it from (malloc'd) */
	char *manifest_b64;	/* base64 of the signed manifest text (malloc'd) */
	char *signature;	/* base64 signature over the manifest text (malloc'd) */
	char key_id[129];
	int64_t rollout_id;	/* -1 when not in a rollout */
	char prev_version[129];	/* "" when the answer names no previous version */
	char prev_digest[72];
	int has_delta;		/* a well-formed "delta" was offered (one that is not is ignored) */
	struct delta_offer delta;
	/* a shadow stage's candidate (docs/judge.md "Shadow runs"), to run beside
	 * this entry's version on shadow_fraction of live requests: model and
	 * platform are this entry's; NULL when none (a malformed one is ignored) */
	struct desired_model *shadow;
	double shadow_fraction;
};

struct desired {
	char device_id[129];
	int poll_after_s;	/* 0 when absent */
	size_t n;
	struct desired_model *models;
};

/*
 * Parses the JSON answer into *out.  0 and the caller frees with
 * desired_free(), or RAMP_EMALFORMED / RAMP_EINVAL / RAMP_ENOMEM with *err
 * naming the field and *out empty.
 */
int desired_parse(const char *text, size_t len, struct desired *out, struct ramp_err *err);

/* Frees the members of *d and empties it; NULL is a no-op. */
void desired_free(struct desired *d);

/*
 * The entry for model (any model when model is NULL or "") on platform (any
 * platform when NULL or ""), pointing into d; NULL when there is none.
 */
const struct desired_model *desired_find(const struct desired *d, const char *model,
					 const char *platform);

#endif
