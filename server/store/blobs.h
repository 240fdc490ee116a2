/*
 * blobs.h - where the content-addressed artifact store keeps its files,
 * for code other than the upload handler (api/artifacts.c): the delta
 * registration and the delta builder. Objects live at
 * $RAMP_DATA_DIR/artifacts/sha256/<2 hex>/<64 hex>, are named only once
 * their bytes match the name, and never change afterwards.
 */
#ifndef RAMP_BLOBS_H
#define RAMP_BLOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The path of digest ("sha256:<hex>") under data_dir; 0 or RAMP_EINVAL/RAMP_EIO. */
int blob_path(const char *data_dir, const char *digest, char *out, size_t len);
/* The size of the stored object, or -1 when it is not stored. */
int64_t blob_size(const char *data_dir, const char *digest);
/* A new named temporary file under artifacts/tmp (path in tmp); fd or -1. */
int blob_temp(const char *data_dir, char *tmp, size_t len);
/* Hashes the temporary file, and names it by its digest (written to
 * digest, 72 bytes); the file is fsynced first. 0 or RAMP_EIO. */
int blob_commit(const char *data_dir, int fd, const char *tmp, char digest[72]);

#endif
