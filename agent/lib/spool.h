/*
 * spool.h - the agent's on-disk telemetry buffer for when the controller
 * cannot be reached: one file per batch of reports under
 * <state-dir>/telemetry/, sent oldest first once the controller answers,
 * bounded by telemetry-buffer reports (the oldest are dropped).
 *
 * Files are <dir>/<20-digit zero-padded sequence>.json, each a JSON array of
 * report objects, written to a dot-named temporary file, fsync'd and renamed,
 * so a crash leaves either the whole batch or none of it.  The sequence and
 * the count of reports held survive restarts.
 *
 * Not thread-safe: one thread (the telemetry thread) owns a spool.
 */
#ifndef RAMP_AGENT_SPOOL_H
#define RAMP_AGENT_SPOOL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct spool;

/*
 * Opens dir (created like mkdir -p, missing components mode 0700; existing
 * ones keep their mode), deletes leftover temporary files, reads the batch
 * files an earlier run left so the count and sequence carry on (unreadable
 * ones are deleted and counted in spool_corrupt), and drops the oldest
 * reports if more than max_reports are held (the bound may have shrunk).
 * max_reports 0 keeps nothing.  NULL with *err filled (RAMP_EIO, RAMP_ENOMEM,
 * RAMP_EINVAL for a path too long); free with spool_close().
 */
struct spool *spool_open(const char *dir, size_t max_reports, struct ramp_err *err);

/*
 * Appends a batch, reports a JSON array of report objects (not consumed):
 * first drops the oldest reports until the batch fits within max_reports
 * (whole old files are removed, and the oldest remaining one is rewritten
 * with its newest reports when only part of it must go), then writes the
 * batch as a new file, so the directory never holds more than max_reports.
 * A batch larger than max_reports keeps only its newest max_reports.  An
 * empty array stores nothing.  0, RAMP_EINVAL when reports is not an array,
 * RAMP_ENOMEM, or RAMP_EIO (nothing of the batch is held; older reports may
 * have made room for it already).
 */
int spool_push(struct spool *sp, const json_t *reports);

/*
 * The oldest batch held (a new reference the caller decrefs) with its id in
 * *id, or NULL when none is.  Unreadable or corrupt files are deleted,
 * counted in spool_corrupt() and skipped.  The batch stays held until
 * spool_drop(id).
 */
json_t *spool_peek(struct spool *sp, uint64_t *id);

/*
 * Removes batch id, once delivered or refused for good.  0, RAMP_ENOTFOUND
 * when the spool holds no such batch, or RAMP_EIO when its file cannot be
 * deleted (the batch stays held).
 */
int spool_drop(struct spool *sp, uint64_t id);

/* Reports held, over all batches. */
size_t spool_count(const struct spool *sp);

/* Batch files found unreadable or corrupt (and deleted) since spool_open(). */
size_t spool_corrupt(const struct spool *sp);

/* Frees sp; the files stay for the next run.  NULL is a no-op. */
void spool_close(struct spool *sp);

#endif
