/*
 * device_id.c - device id syntax (device_id.h), shared by registration,
 * enrollment, DDI controllers, telemetry and list cursors.
 */
#include "domain/device_id.h"

static bool device_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == ':' || c == '-';
}

bool device_id_valid(const char *s, size_t n)
{
	if (s == NULL || n < 1 || n > DEVICE_ID_MAX)
		return false;
	if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!device_char(s[i]))
			return false;
	return true;
}
