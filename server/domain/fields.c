/*
 * fields.c - rejects members of a JSON object outside an allowed list (see
 * fields.h). Keys are compared with their length so "name\u0000x" is not
 * taken for "name".
 */
#include "domain/fields.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static bool allowed_key(const char *const allowed[], const char *key, size_t keylen)
{
	for (size_t i = 0; allowed[i] != NULL; i++)
		if (strlen(allowed[i]) == keylen && memcmp(allowed[i], key, keylen) == 0)
			return true;
	return false;
}

int fields_check(const json_t *obj, const char *const allowed[], const char *prefix,
		 struct ramp_err *err)
{
	char field[sizeof(err->field)];
	const char *key;
	size_t keylen;
	json_t *v;

	json_object_keylen_foreach((json_t *)obj, key, keylen, v) {
		if (allowed_key(allowed, key, keylen))
			continue;
		if (prefix && *prefix)
			snprintf(field, sizeof(field), "%s.%s", prefix, key);
		else
			snprintf(field, sizeof(field), "%s", key);
		return ramp_err_set(err, RAMP_EINVAL, field, "unknown field");
	}
	return 0;
}
