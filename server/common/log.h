/*
 * log.h - structured one-line logs on stderr:
 *   ts=2026-11-25T08:00:00.123Z level=info msg="..." key=value ...
 * The message is formatted by the caller as `msg="..." k=v`; log_* adds the
 * timestamp and level and writes the line with one write(2), so lines from
 * several threads never interleave.
 */
#ifndef RAMP_LOG_H
#define RAMP_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Sets the lowest level written (default LOG_INFO). */
void log_set_level(enum log_level lvl);
void log_write(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_debug(...) log_write(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_write(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)

#endif
