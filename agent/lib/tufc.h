/*
 * tufc.h - ramp-agent's TUF client (docs/tuf.md): before a model is
 * installed, the metadata on the controller's /v1/tuf/metadata/ is
 * refreshed through the spec's client workflow (domain/tuf.h) and the
 * model's target must be in verified targets metadata with the digest the
 * desired answer names. Trusted metadata is kept in <state-dir>/tuf/, so
 * a rollback is caught across restarts too.
 */
#ifndef RAMP_AGENT_TUFC_H
#define RAMP_AGENT_TUFC_H

#include <stdbool.h>

#include "common/err.h"
#include "conf.h"
#include "desired.h"
#include "verify.h"

struct ctl;

/* Whether installs go through TUF: "on", or "auto"/"" with a root pinned
 * (tuf-root, or <state-dir>/tuf/root.json from an earlier run). */
bool tufc_enabled(const struct conf *c);

/* Refreshes the metadata and finds e's target (<model>/<version>/
 * <platform>/<file>). 0 with *out the target's digest and length; an
 * attack refused: RAMP_EINVAL / RAMP_ETOOBIG / RAMP_ENOTFOUND with
 * err->field the attack and err->msg "tuf: <attack>: ..."; RAMP_EIO when
 * the controller could not be asked (try again later). */
int tufc_verify(const struct conf *c, struct ctl *ctl, const struct desired_model *e,
		double now, struct verify_signed *out, struct ramp_err *err);

#endif
