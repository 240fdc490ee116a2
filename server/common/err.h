/*
 * err.h - ramp's one error currency.
 *
 * Every fallible function returns 0 on success or a negative RAMP_E* code.
 * Parsers additionally fill a caller's struct ramp_err with the field path
 * and a message in PostgreSQL's voice (lower case, no period), so the API can
 * answer 4xx naming the field.
 */
#ifndef RAMP_ERR_H
#define RAMP_ERR_H

#include <stddef.h>

#define RAMP_ERRNO_MAP(X)                                                      \
	X(EINVAL, 1, "invalid input")                                          \
	X(ENOMEM, 2, "out of memory")                                          \
	X(ENOTFOUND, 3, "not found")                                           \
	X(ECONFLICT, 4, "conflict")                                            \
	X(EUNAVAIL, 5, "database unavailable")                                 \
	X(EIO, 6, "i/o error")                                                 \
	X(ETOOBIG, 7, "too large")                                             \
	X(EAUTH, 8, "not authenticated")                                       \
	X(EFORBIDDEN, 9, "forbidden")                                          \
	X(EMALFORMED, 10, "malformed input")                                   \
	X(EBUSY, 11, "busy")                                                   \
	X(EINTERNAL, 12, "internal error")

enum {
	RAMP_OK = 0,
#define RAMP_ERR_ENUM(name, val, msg) RAMP_##name = -(val),
	RAMP_ERRNO_MAP(RAMP_ERR_ENUM)
#undef RAMP_ERR_ENUM
};

/* Filled by parsers and validators; field is a path like "stages[1].size". */
struct ramp_err {
	int code;
	char field[128];
	char msg[256];
};

/* Name-free message for a RAMP_E* code; never NULL. */
const char *ramp_strerror(int code);

/* Sets *err (when err is not NULL) and returns code, for `return ramp_err_set(...)`. */
int ramp_err_set(struct ramp_err *err, int code, const char *field,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Clears *err to the success state. */
void ramp_err_clear(struct ramp_err *err);

#endif
