/*
 * tuf_repo.h - the repository side of TUF (docs/tuf.md): checks on what
 * operators and CI upload, and the documents rampd signs online. Pure;
 * store/store_tuf.c runs them inside the transaction that stores the
 * result, with the current documents it read under the same lock.
 */
#ifndef RAMP_TUF_REPO_H
#define RAMP_TUF_REPO_H

#include "domain/tuf.h"

/* The next root: version 1 signed by its own threshold when cur is NULL,
 * else exactly cur + 1 signed by both roots' thresholds (tuf_update_root);
 * not expired; consistent_snapshot true. 0 with *doc (caller decrefs). */
int tuf_repo_check_root(const char *cur, size_t curlen, const char *data, size_t len,
			int64_t now, json_t **doc, struct ramp_err *err);
/* The next top-level targets: the root's targets threshold, a version
 * above cur's (RAMP_ECONFLICT otherwise), not expired. */
int tuf_repo_check_targets(const char *root, size_t rootlen, const char *cur, size_t curlen,
			   const char *data, size_t len, int64_t now, json_t **doc,
			   struct ramp_err *err);
/* The next document of a role the top-level targets delegates (name): its
 * keys' threshold, every target inside its paths ("arbitrary-software"),
 * a version above cur's, not expired. RAMP_ENOTFOUND when not delegated. */
int tuf_repo_check_delegated(const char *targets, size_t tlen, const char *name,
			     const char *cur, size_t curlen, const char *data, size_t len,
			     int64_t now, json_t **doc, struct ramp_err *err);

/* Unsigned envelopes (sign with tuf_sign; caller decrefs): a snapshot
 * over meta ({"<role>.json": {"version": N}}, borrowed), a timestamp
 * naming snap's bytes. */
json_t *tuf_repo_snapshot(json_t *meta, int64_t version, int64_t expires);
json_t *tuf_repo_timestamp(int64_t version, int64_t expires, int64_t snap_version,
			   const char *snap, size_t snaplen);
/* The bytes rampd serves for a document it made (caller frees). */
char *tuf_repo_dump(const json_t *doc);

#endif
