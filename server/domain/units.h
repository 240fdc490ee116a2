/*
 * units.h - the unit grammar of the API's plain values (API.md
 * "Conventions"): durations such as "90s", "30m", "1h", "1d" or bare integer
 * seconds, stage sizes such as "0.25" or "1%", and strict decimal numbers
 * scaled by a power of ten (what threshold units need). Pure: no allocation,
 * no locale, no whitespace accepted anywhere.
 */
#ifndef RAMP_UNITS_H
#define RAMP_UNITS_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parses a duration into *seconds: "600" (integer seconds) or one or more
 * <digits><unit> parts with units d, h, m, s in that order ("1h30m").
 * Returns 0, or RAMP_EINVAL for empty, negative, junk or int64 overflow.
 */
int units_parse_duration(const char *s, int64_t *seconds);

/*
 * Parses a base-10 integer in [min, max] into *out, as strtoll reads it (so
 * leading blanks and a sign are accepted, as rampd's settings always
 * have), with nothing after it. Returns 0, or RAMP_EINVAL for empty, junk,
 * overflow or out of range (*out is then untouched). The one integer
 * parser of settings and query parameters.
 */
int units_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);

/*
 * Writes seconds in the largest unit that divides it exactly (1800 -> "30m",
 * 90 -> "90s", 0 -> "0s"). Returns 0, RAMP_EINVAL for a negative value or
 * no buffer, RAMP_ETOOBIG when buf is too small.
 */
int units_format_duration(int64_t seconds, char *buf, size_t len);

/*
 * Parses a stage size: a decimal fraction ("0.25", "1") or a percentage
 * ("1%" -> 0.01). Range checks are the caller's. Returns 0, or RAMP_EINVAL
 * for empty, negative, non-finite or trailing junk.
 */
int units_parse_size(const char *s, double *out);

/*
 * Returns the length of the longest strict unsigned decimal at the start of
 * s (digits, optional fraction, optional exponent), 0 when there is none.
 */
size_t units_scan_number(const char *s);

/*
 * Converts the first n bytes of the NUL-terminated s, which must be exactly
 * the number units_scan_number() finds there, to value * 10^shift, correctly
 * rounded. Returns 0, or RAMP_EINVAL when they are not, when the mantissa
 * has over 100 characters, or when the result is not finite.
 */
int units_parse_decimal(const char *s, size_t n, int shift, double *out);

#endif
