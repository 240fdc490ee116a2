/*
 * gitops.h - the GitOps repository layout (docs/gitops.md), pure: the files
 * of one commit's tree (path and bytes, read by the reconciler) in, the
 * fleet's intended state out, or the first file that is wrong with its line
 * and the reason. Manifests, signatures, keys, policies and selectors go
 * through the same parsers the API uses, so Git accepts exactly what the
 * API accepts.
 *
 *   keys/<id>.pub                         PEM public key (ECDSA P-256, Ed25519)
 *   models/<model>/<version>.yaml         the manifest, byte for byte as signed
 *   models/<model>/<version>.yaml.sig     base64 signature (cosign sign-blob)
 *   models/<model>/<version>.yaml.key_id  optional: the key's id
 *   policies/<name>.yaml                  a policy (PUT /v1/policies/<name>)
 *   cohorts/<name>.yaml                   selector: "<label selector>"
 *   releases/<model>.yaml                 version, policy (name or inline),
 *                                         selector?, stable?
 */
#ifndef RAMP_GITOPS_H
#define RAMP_GITOPS_H

#include "common/arena.h"
#include "domain/manifest.h"
#include "domain/policy.h"

#include <stdbool.h>
#include <stddef.h>

#define GITOPS_MAX_FILES 2048
#define GITOPS_MAX_FILE_BYTES (1024 * 1024)
#define GITOPS_MAX_TOTAL_BYTES (64 * 1024 * 1024)
#define GITOPS_MAX_PATH 255

/* Git tree entry modes the reconciler passes to gitops_entry_check. */
#define GITOPS_MODE_TREE 0040000
#define GITOPS_MODE_BLOB 0100644
#define GITOPS_MODE_EXEC 0100755
#define GITOPS_MODE_LINK 0120000
#define GITOPS_MODE_COMMIT 0160000

/* Where a commit is wrong: file (relative to the layout's root), line (0:
 * the whole file) and why, in the API's voice. */
struct gitops_err {
	char file[GITOPS_MAX_PATH + 1];
	int line;
	char reason[320];
};

struct gitops_file {
	const char *path; /* "models/ocr/1.0.yaml", relative to the root */
	const char *data; /* borrowed */
	size_t len;
};

struct gitops_key {
	const char *id, *pem, *file;
};

struct gitops_manifest {
	struct manifest m;   /* parsed, owned */
	const char *text;    /* the signed bytes, borrowed from the file */
	size_t len;
	const char *sig;     /* base64, trimmed */
	const char *key_id;  /* the key that verified it */
	const char *file;
};

struct gitops_policy {
	const char *name, *file;
	const char *source; /* the YAML as written, NUL-terminated */
	struct policy *p; /* owned */
};

struct gitops_cohort {
	const char *name, *selector, *file;
};

struct gitops_release {
	const char *model, *version, *file;
	const char *policy_name; /* NULL when inline */
	struct policy *policy;   /* the inline policy, the repository's or ramp's */
	bool own_policy;         /* policy is freed with the state */
	const char *selector;    /* "" when absent */
	const char *stable;      /* NULL when absent */
	char digest[65];         /* SHA-256 of the file: a new attempt when it moves */
};

/* The intended state of one commit. Strings live in its arena. */
struct gitops_state {
	struct arena *arena;
	struct gitops_key *keys;
	struct gitops_manifest *manifests;
	struct gitops_policy *policies;
	struct gitops_cohort *cohorts;
	struct gitops_release *releases;
	size_t nkeys, nmanifests, npolicies, ncohorts, nreleases;
};

/* What the repository may rely on from ramp itself (every member may be
 * NULL: nothing is known). */
struct gitops_lookup {
	void *ctx;
	/* the PEM of a stored, unrevoked key, or NULL; valid until the parse ends */
	const char *(*key_pem)(void *ctx, const char *id);
	bool (*version_known)(void *ctx, const char *model, const char *version);
	bool (*policy_known)(void *ctx, const char *name, struct policy *out);
	bool (*cohort_known)(void *ctx, const char *name);
};

/*
 * Checks one tree entry before its bytes are read: a path of at most
 * GITOPS_MAX_PATH bytes whose components are not empty, ".", ".." or
 * hidden-with-a-slash, of printable characters; a regular file (symlinks and
 * submodules are refused) no larger than GITOPS_MAX_FILE_BYTES. 0, or
 * RAMP_EINVAL / RAMP_ETOOBIG with err.
 */
int gitops_entry_check(const char *path, unsigned mode, size_t size, struct gitops_err *err);

/*
 * Parses and validates the files of one commit into *out (free with
 * gitops_state_free; empty on error). Files outside keys/, models/,
 * policies/, cohorts/ and releases/ are ignored. 0, or RAMP_EINVAL /
 * RAMP_ETOOBIG / RAMP_ENOMEM with err naming the file, the line when known
 * and the reason. Every manifest must verify with a key of keys/ or one
 * lookup knows; every release must name a version of models/ or one lookup
 * knows, and a policy inline, of policies/ or one lookup knows.
 */
int gitops_parse(const struct gitops_file *files, size_t n, const struct gitops_lookup *lk,
		 struct gitops_state *out, struct gitops_err *err);

/* Frees what *s holds and empties it; NULL is a no-op. */
void gitops_state_free(struct gitops_state *s);

/*
 * The 1-based line of text where field ("stages[1].size", "model.version")
 * is written, found by following its keys and list items by indentation;
 * 0 when it cannot be found.
 */
int gitops_line_of(const char *text, size_t len, const char *field);

#endif
