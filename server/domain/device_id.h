/*
 * device_id.h - the one definition of a device id: [A-Za-z0-9._:-]{1,128},
 * except "." and "..", which clients that normalise paths (and every URL
 * that puts the id in a path segment: /v1/devices/{id}, DDI controller
 * links) turn into "this folder" or "the folder above". Pure.
 */
#ifndef RAMP_DEVICE_ID_H
#define RAMP_DEVICE_ID_H

#include <stdbool.h>
#include <stddef.h>

#define DEVICE_ID_MAX 128
#define DEVICE_ID_RULE "[A-Za-z0-9._:-]{1,128}, not \".\" or \"..\""

/* True when the n bytes at s are a device id (s need not be NUL-terminated;
 * an embedded NUL makes it false). */
bool device_id_valid(const char *s, size_t n);

#endif
