/*
 * blobs.h - the artifact store's objects as files, for code other than the
 * upload handler (api/artifacts.c): the delta registration and the delta
 * builder. Objects live at $RAMP_DATA_DIR/artifacts/sha256/<2 hex>/<64 hex>
 * (with RAMP_ARTIFACT_STORE=database those files are this replica's copies
 * of the database's objects: store_artifacts.c), are named only once their
 * bytes match the name, and never change afterwards.
 */
#ifndef RAMP_BLOBS_H
#define RAMP_BLOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct app;

/* The path of digest ("sha256:<hex>")'s local file, copied from the
 * database first when the store is there and this replica lacks it; 0,
 * RAMP_EINVAL (not a digest), RAMP_ENOTFOUND or RAMP_EIO. */
int blob_local(struct app *app, const char *digest, char *out, size_t len);
/* The size of the stored object, or -1 when it is not stored. */
int64_t blob_size(struct app *app, const char *digest);
/* A new named temporary file under artifacts/tmp (path in tmp); fd or -1. */
int blob_temp(struct app *app, char *tmp, size_t len);
/* Hashes the temporary file and names it by its digest (written to digest,
 * 72 bytes), fsynced first; with the database store it is written there
 * too, so every replica serves it. 0 or RAMP_E*. */
int blob_commit(struct app *app, int fd, const char *tmp, char digest[72]);

/* Removes this replica's file of digest, if any (the caller has taken it
 * out of the database first). 0, RAMP_EINVAL or RAMP_EIO. */
int blob_remove(struct app *app, const char *digest);

#endif
