/*
 * store.h - the model store on the device's disk, one directory per model
 * under the store root (conf model-dir):
 *
 *   <root>/<model>/current  -> <version>   what runs (a relative symlink)
 *   <root>/<model>/previous -> <version>   the kept version for a rollback
 *   <root>/<model>/<version>/model          the verified file, read-only
 *   <root>/<model>/<version>/manifest.json  what was verified, for restarts
 *   <root>/<model>/.partial/<sha256 hex>    a download in progress
 *   <root>/<model>/.pending                 a swap not yet confirmed: holds
 *                                           the version current had before
 *
 * Readers open <root>/<model>/current/model.  A link is only ever replaced
 * by rename(2) of a new link over it, and the directory is fsync'd, so a
 * reader sees the old or the new version, never a missing or half file, and
 * after a crash current names a version that was completely installed.
 *
 * Every function takes the root and the model name; model names and
 * versions are checked (mstore_name_ok) before they become path parts.
 */
#ifndef RAMP_AGENT_STORE_H
#define RAMP_AGENT_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

#define MSTORE_VERSION_MAX 129

/* True for a name that is safe as one path part: [A-Za-z0-9][A-Za-z0-9._+-]{0,127}. */
int mstore_name_ok(const char *s);

/* <root>/<model>/.partial/<hex of digest> into out, creating the directories; 0 or RAMP_EIO. */
int mstore_partial(const char *root, const char *model, const char *digest, char *out,
		   size_t cap, struct ramp_err *err);

/* <root>/<model>/<version>/model into out. */
void mstore_file(const char *root, const char *model, const char *version, char *out, size_t cap);

/*
 * Moves the verified file part into <root>/<model>/<version>/model (read-only)
 * with meta written beside it as manifest.json, built in a temporary
 * directory that is renamed into place (an existing version directory is
 * replaced).  0, or RAMP_EIO with the reason ("no space: ..." with
 * err->field "space" when the disk is full); on failure no temporary
 * directory is left and an existing version directory is as it was.
 */
int mstore_commit(const char *root, const char *model, const char *version, const char *part,
		  const json_t *meta, struct ramp_err *err);

/*
 * The version the link ("current" or "previous") names, in version (cap
 * MSTORE_VERSION_MAX), and its digest from manifest.json (digest may be NULL).
 * 0, or RAMP_ENOTFOUND when there is no such link or its version directory is
 * incomplete.
 */
int mstore_link(const char *root, const char *model, const char *link, char *version,
		char *digest, size_t digest_cap);

/* 1 when <root>/<model>/<version> is complete and its manifest.json has digest, else 0. */
int mstore_has(const char *root, const char *model, const char *version, const char *digest);

/* Points the link at version (removes it for ""), atomically, and fsyncs; 0 or RAMP_EIO. */
int mstore_point(const char *root, const char *model, const char *link, const char *version,
		 struct ramp_err *err);

/* Writes (old: the version current names now, "" for none) or, with NULL, removes .pending. */
int mstore_pending(const char *root, const char *model, const char *old, struct ramp_err *err);

/*
 * 1 with the version in old when a swap was left unconfirmed, else 0.  old is
 * "" when .pending holds no version or anything but one valid name.
 */
int mstore_pending_get(const char *root, const char *model, char old[MSTORE_VERSION_MAX]);

/*
 * Removes every version directory but keep1 and keep2 (either may be ""),
 * and every partial file but the one for keep_digest (may be NULL).
 */
void mstore_prune(const char *root, const char *model, const char *keep1, const char *keep2,
		  const char *keep_digest);

/* Calls fn for each directory under root whose name passes mstore_name_ok (at most 64). */
void mstore_models(const char *root, void (*fn)(void *cls, const char *model), void *cls);

/* mkdir -p path with mode; 0 or -1 with errno. */
int mstore_mkdir_p(const char *path, mode_t mode);

/* Bytes the file at path holds (0 when there is none). */
int64_t mstore_size(const char *path);

/* MiB available to this user on the file system holding path; -1 when unknown. */
double mstore_free_mb(const char *path);

#endif
