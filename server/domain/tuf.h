/*
 * tuf.h - The Update Framework 1.0 (theupdateframework/specification):
 * canonical JSON, metadata checks, signature thresholds, and the client
 * workflow's version, expiry, length and hash rules (spec section 5).
 *
 * Pure: bytes and `now` in, verdicts out. rampd uses it to check what
 * operators and CI upload and to sign the online roles; rampctl to sign
 * offline; ramp-agent to walk the client workflow. Keys are ed25519
 * ({"keytype":"ed25519","scheme":"ed25519","keyval":{"public":"<hex>"}});
 * a key id is the SHA-256 of the key's canonical JSON. Every refusal fills
 * err->field with the attack it stops ("rollback", "freeze",
 * "mix-and-match", "arbitrary-software", "endless-data", "threshold") or
 * "malformed", and err->msg says what was seen.
 */
#ifndef RAMP_TUF_H
#define RAMP_TUF_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

#define TUF_SPEC_VERSION "1.0.31"
/* Length caps when a referring role gives no length (endless data). */
#define TUF_MAX_ROOT (512 * 1024)
#define TUF_MAX_TIMESTAMP (16 * 1024)
#define TUF_MAX_META (4 * 1024 * 1024)
#define TUF_MAX_ROOT_ROTATIONS 64
#define TUF_MAX_DELEGATIONS 32

enum tuf_type { TUF_ROOT, TUF_TIMESTAMP, TUF_SNAPSHOT, TUF_TARGETS };

/* --- canonical JSON (the OLPC form securesystemslib and tuf-js use) --- */

/* Appends v in canonical form: keys sorted bytewise, no whitespace, only
 * '"' and '\\' escaped, integers only. 0, RAMP_EINVAL for a real number,
 * RAMP_ENOMEM when out failed. */
int tuf_cjson(const json_t *v, struct buf *out);

/* --- metadata documents --- */

/* Parses a signed envelope {"signed":{...},"signatures":[...]} of the given
 * type (checks _type, spec_version 1.x, version >= 1, expires, and the
 * type's own members). 0 with *out (caller json_decref()s), or RAMP_EINVAL
 * with err->field "malformed"; RAMP_ETOOBIG past max ("endless-data"). */
int tuf_parse(const char *data, size_t len, size_t max, enum tuf_type type,
	      json_t **out, struct ramp_err *err);
/* The envelope's "signed" object, version and expiry (unix seconds). */
const json_t *tuf_signed(const json_t *doc);
int64_t tuf_version(const json_t *doc);
int64_t tuf_expires(const json_t *doc);
/* "YYYY-MM-DDTHH:MM:SSZ" to unix seconds; -1 when it is not that. */
int64_t tuf_time_parse(const char *s);
/* unix seconds to "YYYY-MM-DDTHH:MM:SSZ" (out holds 21 bytes). */
void tuf_time_format(int64_t t, char out[21]);

/* The key id of a key object (hex SHA-256 of its canonical JSON). */
int tuf_keyid(const json_t *key, char out[65]);

/* 0 when at least role.threshold distinct keys of role.keyids (looked up
 * in keys) signed doc's canonical "signed" bytes; RAMP_EINVAL "threshold"
 * otherwise. rolename is for the message. */
int tuf_verify_role(const json_t *doc, const json_t *keys, const json_t *role,
		    const char *rolename, struct ramp_err *err);
/* The keys and role of a top-level role in a root document. */
const json_t *tuf_root_keys(const json_t *root);
const json_t *tuf_root_role(const json_t *root, const char *name);

/* A targets document's delegated role by name (with keyids, threshold,
 * paths, terminating), or NULL. */
const json_t *tuf_delegation(const json_t *targets, const char *name);
/* Whether path is in one of role's "paths" patterns (shell wildcards per
 * "/"-separated segment, as python-tuf matches). */
bool tuf_role_matches(const json_t *role, const char *path);

/* --- the client workflow (spec 5.3 - 5.7) --- */

struct tuf_trust {
	json_t *root, *timestamp, *snapshot, *targets;
	json_t *delegated;	/* object: role name -> verified document */
};

/* Starts from a pinned root (checked against its own threshold; expiry
 * is checked after the root update). 0 or an error; t is emptied first. */
int tuf_trust_init(struct tuf_trust *t, const char *root, size_t len,
		   struct ramp_err *err);
void tuf_trust_free(struct tuf_trust *t);

/* 5.3: data is the next N+1.root.json. Verified by the trusted root's and
 * its own root role, version N+1 exactly (rollback otherwise); timestamp
 * and snapshot are forgotten when their keys changed. */
int tuf_update_root(struct tuf_trust *t, const char *data, size_t len,
		    struct ramp_err *err);
/* 5.3.10: the trusted root has not expired (freeze). */
int tuf_check_root_expiry(const struct tuf_trust *t, int64_t now, struct ramp_err *err);
/* 5.4: timestamp.json. A version equal to the trusted one keeps the
 * trusted document (returns 0). */
int tuf_update_timestamp(struct tuf_trust *t, const char *data, size_t len,
			 int64_t now, struct ramp_err *err);
/* 5.5, 5.6, 5.7: N.snapshot.json, N.targets.json, N.<role>.json. parent is
 * the delegating role's name ("targets" for top-level delegations). */
int tuf_update_snapshot(struct tuf_trust *t, const char *data, size_t len,
			int64_t now, struct ramp_err *err);
int tuf_update_targets(struct tuf_trust *t, const char *data, size_t len,
		       int64_t now, struct ramp_err *err);
int tuf_update_delegated(struct tuf_trust *t, const char *parent, const char *name,
			 const char *data, size_t len, int64_t now,
			 struct ramp_err *err);

/* Versions to fetch: the snapshot the timestamp names, the version of
 * "<role>.json" in the snapshot; -1 when unknown. */
int64_t tuf_snapshot_version(const struct tuf_trust *t);
int64_t tuf_role_version(const struct tuf_trust *t, const char *role);
/* Most bytes to accept for a role's next document: the length its
 * referrer gives, else the cap above. */
size_t tuf_max_length(const struct tuf_trust *t, const char *role);

/* 5.7 target search: pre-order through top-level targets and loaded
 * delegations. 0 with *info (borrowed {length, hashes, custom}) when
 * found; RAMP_ENOTFOUND ("arbitrary-software"); RAMP_EBUSY with need
 * (64 bytes) and need_parent naming a role to load first. */
int tuf_find_target(const struct tuf_trust *t, const char *path, const json_t **info,
		    char need[64], char need_parent[64], struct ramp_err *err);
/* Length and sha256 of a target from its info; -1 / NULL when absent. */
int64_t tuf_target_length(const json_t *info);
const char *tuf_target_sha256(const json_t *info);

/* --- signing (rampctl offline, rampd's online keys) --- */

/* A new ed25519 key: *priv_pem (PKCS#8 PEM, caller frees) and *pub (the
 * key object, caller decrefs). */
int tuf_key_generate(char **priv_pem, json_t **pub);
/* The key object of a private key PEM (caller decrefs), or NULL. */
json_t *tuf_key_public(const char *priv_pem);
/* Adds (or replaces) doc's signature by priv_pem over its "signed". */
int tuf_sign(json_t *doc, const char *priv_pem, struct ramp_err *err);

#endif
