/* units.c - placeholder: "90s", "30m", "1h", "1d" or integer seconds. */
#include "domain/units.h"

#include <errno.h>
#include <stdlib.h>

int units_parse_duration(const char *s, int64_t *seconds)
{
	char *end;
	long long n;
	int64_t mul = 1;

	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || end == s || n < 0)
		return -1;
	switch (*end) {
	case '\0': break;
	case 's': mul = 1; end++; break;
	case 'm': mul = 60; end++; break;
	case 'h': mul = 3600; end++; break;
	case 'd': mul = 86400; end++; break;
	default: return -1;
	}
	if (*end || n > INT64_MAX / mul)
		return -1;
	*seconds = n * mul;
	return 0;
}
