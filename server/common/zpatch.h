/*
 * zpatch.h - zstd "--patch-from" deltas with libzstd: the old file is the
 * frame's prefix (ZSTD_CCtx_refPrefix / ZSTD_DCtx_refPrefix), long-distance
 * matching is on and the window covers old + new, so the output is a plain
 * zstd frame that `zstd -d --patch-from=old --long=<w>` also reads.
 *
 * Both sides stream: the new file is read (and the result written) in
 * 128 KiB pieces; the old file is mapped read-only (page cache, not heap).
 * The decoder refuses a frame whose window is over window_log_max, so a
 * device's memory stays bounded by 2^window_log_max whatever it is sent.
 */
#ifndef RAMP_ZPATCH_H
#define RAMP_ZPATCH_H

#include <stdint.h>

#include "common/err.h"

#define ZPATCH_WINDOW_LOG_MIN 10
#define ZPATCH_WINDOW_LOG_MAX 31

/* The window log a delta from old_size to new_size bytes needs (covers both). */
int zpatch_window_log(int64_t old_size, int64_t new_size);

struct zpatch_make_opts {
	int level;          /* zstd level, 1..19 */
	int window_log_max; /* refuse pairs that need a larger window */
	int64_t max_bytes;  /* refuse an old or new file over this */
};

struct zpatch_stats {
	int64_t old_size, new_size, delta_size;
	int window_log;
};

/*
 * Writes the delta from old_path to new_path to out_fd (from its current
 * offset).  0, RAMP_ETOOBIG (window or size over the caps), RAMP_EIO or
 * RAMP_ENOMEM, with err's msg saying which; *st filled as far as known.
 */
int zpatch_make(const char *old_path, const char *new_path, int out_fd,
		const struct zpatch_make_opts *o, struct zpatch_stats *st, struct ramp_err *err);

struct zpatch_apply_result {
	int64_t out_size;
	char sha256[65]; /* hex of what was written */
};

/*
 * Applies the delta read from delta_fd against old_path, writing the
 * result to out_fd and hashing it.  Refuses a frame whose window is over
 * 2^window_log_max and a result over max_out bytes (RAMP_ETOOBIG).
 * RAMP_EINVAL for a corrupt delta or a wrong base (libzstd's reason in
 * err->msg), RAMP_EIO for I/O.
 */
int zpatch_apply(const char *old_path, int delta_fd, int out_fd, int window_log_max,
		 int64_t max_out, struct zpatch_apply_result *res, struct ramp_err *err);

#endif
