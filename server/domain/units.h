/* units.h - placeholder until the policy module lands: durations. */
#ifndef RAMP_UNITS_H
#define RAMP_UNITS_H
#include <stdint.h>
int units_parse_duration(const char *s, int64_t *seconds);
#endif
