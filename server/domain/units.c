/*
 * units.c - durations, sizes and scaled decimals (see units.h).
 *
 * Decimal scaling is done in text, by moving the exponent, so "0.5%" gives
 * exactly the double nearest 0.005 and "1.5s" exactly 1500: strtod rounds
 * once, a multiplication afterwards would round twice.
 */
#include "domain/units.h"

#include "common/err.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	char unit;
	int64_t mul;
} duration_units[] = {{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};

#define NUNITS (sizeof(duration_units) / sizeof(duration_units[0]))

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Reads digits at *pp into *n; fails on no digits or int64 overflow. */
static int scan_int64(const char **pp, int64_t *n)
{
	const char *p = *pp;

	if (!is_digit(*p))
		return RAMP_EINVAL;
	*n = 0;
	for (; is_digit(*p); p++) {
		int d = *p - '0';

		if (*n > (INT64_MAX - d) / 10)
			return RAMP_EINVAL;
		*n = *n * 10 + d;
	}
	*pp = p;
	return 0;
}

int units_parse_duration(const char *s, int64_t *seconds)
{
	const char *p = s;
	int64_t total = 0, n;
	size_t next = 0, i;

	if (s == NULL || seconds == NULL || *s == '\0')
		return RAMP_EINVAL;
	while (*p != '\0') {
		if (scan_int64(&p, &n) < 0)
			return RAMP_EINVAL;
		if (*p == '\0' && total == 0 && next == 0) {
			*seconds = n; /* bare integer seconds */
			return 0;
		}
		for (i = next; i < NUNITS; i++)
			if (duration_units[i].unit == *p)
				break;
		if (i == NUNITS)
			return RAMP_EINVAL;
		if (n > (INT64_MAX - total) / duration_units[i].mul)
			return RAMP_EINVAL;
		total += n * duration_units[i].mul;
		next = i + 1;
		p++;
	}
	*seconds = total;
	return 0;
}

int units_format_duration(int64_t seconds, char *buf, size_t len)
{
	size_t i = NUNITS - 1;
	int n;

	if (buf == NULL || len == 0 || seconds < 0)
		return RAMP_EINVAL;
	if (seconds > 0)
		for (i = 0; i < NUNITS - 1; i++)
			if (seconds % duration_units[i].mul == 0)
				break;
	n = snprintf(buf, len, "%lld%c",
		     (long long)(seconds / duration_units[i].mul),
		     duration_units[i].unit);
	if (n < 0 || (size_t)n >= len)
		return RAMP_ETOOBIG;
	return 0;
}

size_t units_scan_number(const char *s)
{
	size_t i = 0, digits = 0, e;

	if (s == NULL)
		return 0;
	for (; is_digit(s[i]); i++)
		digits++;
	if (s[i] == '.')
		for (i++; is_digit(s[i]); i++)
			digits++;
	if (digits == 0)
		return 0;
	if (s[i] != 'e' && s[i] != 'E')
		return i;
	e = i + 1;
	if (s[e] == '+' || s[e] == '-')
		e++;
	if (!is_digit(s[e]))
		return i; /* "1e" then junk: the number is "1" */
	while (is_digit(s[e]))
		e++;
	return e;
}

/* Splits off the exponent of a strict decimal; clamps absurd exponents. */
static size_t split_exponent(const char *s, size_t n, long *exp)
{
	size_t m;
	long v = 0;

	for (m = 0; m < n && s[m] != 'e' && s[m] != 'E'; m++)
		;
	*exp = 0;
	if (m == n)
		return m;
	for (size_t i = m + 1; i < n; i++) {
		if (is_digit(s[i]) && v < 1000000)
			v = v * 10 + (s[i] - '0');
	}
	*exp = s[m + 1] == '-' ? -v : v;
	return m;
}

int units_parse_decimal(const char *s, size_t n, int shift, double *out)
{
	char buf[128];
	size_t m;
	long exp;
	double v;
	char *end;

	if (s == NULL || out == NULL || n == 0 || units_scan_number(s) != n)
		return RAMP_EINVAL;
	m = split_exponent(s, n, &exp);
	if (m > 100) /* keeps buf bounded; 100 significant digits is plenty */
		return RAMP_EINVAL;
	snprintf(buf, sizeof(buf), "%.*se%ld", (int)m, s, exp + shift);
	errno = 0;
	v = strtod(buf, &end);
	if (*end != '\0' || !isfinite(v))
		return RAMP_EINVAL;
	*out = v;
	return 0;
}

int units_parse_size(const char *s, double *out)
{
	size_t n = units_scan_number(s);

	if (n == 0 || out == NULL)
		return RAMP_EINVAL;
	if (s[n] == '\0')
		return units_parse_decimal(s, n, 0, out);
	if (s[n] == '%' && s[n + 1] == '\0')
		return units_parse_decimal(s, n, -2, out);
	return RAMP_EINVAL;
}

int units_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long n;

	if (s == NULL)
		return RAMP_EINVAL;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || end == s || *end || n < min || n > max)
		return RAMP_EINVAL;
	*out = n;
	return 0;
}
