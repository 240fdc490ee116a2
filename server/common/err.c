/*
 * err.c - message table and setters for the RAMP_E* error currency.
 */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *ramp_strerror(int code)
{
	switch (code) {
	case RAMP_OK:
		return "ok";
#define RAMP_ERR_CASE(name, val, msg)                                          \
	case RAMP_##name:                                                      \
		return msg;
		RAMP_ERRNO_MAP(RAMP_ERR_CASE)
#undef RAMP_ERR_CASE
	default:
		return "unknown error";
	}
}

int ramp_err_set(struct ramp_err *err, int code, const char *field,
		 const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	err->code = code;
	snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

void ramp_err_clear(struct ramp_err *err)
{
	if (err == NULL)
		return;
	memset(err, 0, sizeof(*err));
}
