/*
 * buf.h - the simulator's request and response bodies: server/common's
 * capped buffer (common/buf.h, a zeroed one holds at most BUF_MAX_DEFAULT,
 * so a runaway answer cannot eat the machine), plus the one JSON function
 * the simulator's writers need.
 */
#ifndef RAMP_SIM_BUF_H
#define RAMP_SIM_BUF_H

#include "common/buf.h"

/* Appends s as a JSON string literal, quotes included; 0 or -1 as buf_append(). */
int buf_append_json_str(struct buf *b, const char *s);

#endif
