/*
 * tuf_cjson.c - canonical JSON as TUF signs it (the OLPC form of
 * securesystemslib's encode_canonical and tuf-js's canonical-json): object
 * keys sorted by their UTF-8 bytes, no whitespace, strings with only '"'
 * and '\\' escaped (every other byte, control characters included, is
 * written as is), integers only. The bytes a signature covers are these,
 * never the text a document arrived as.
 */
#include "domain/tuf.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static int put_string(struct buf *out, const char *s, size_t n)
{
	size_t i, start = 0;

	if (buf_append(out, "\"", 1))
		return RAMP_ENOMEM;
	for (i = 0; i < n; i++) {
		if (s[i] != '"' && s[i] != '\\')
			continue;
		if (buf_append(out, s + start, i - start) || buf_append(out, "\\", 1))
			return RAMP_ENOMEM;
		start = i;
	}
	if (buf_append(out, s + start, n - start) || buf_append(out, "\"", 1))
		return RAMP_ENOMEM;
	return 0;
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int put_object(const json_t *v, struct buf *out)
{
	size_t n = json_object_size(v), i = 0;
	const char **keys;
	const char *k;
	json_t *m;
	int rc = 0;

	keys = malloc((n ? n : 1) * sizeof(*keys));
	if (keys == NULL)
		return RAMP_ENOMEM;
	json_object_foreach((json_t *)v, k, m)
		keys[i++] = k;
	qsort(keys, n, sizeof(*keys), key_cmp);
	if (buf_append(out, "{", 1))
		rc = RAMP_ENOMEM;
	for (i = 0; rc == 0 && i < n; i++) {
		if (i > 0 && buf_append(out, ",", 1)) {
			rc = RAMP_ENOMEM;
			break;
		}
		rc = put_string(out, keys[i], strlen(keys[i]));
		if (rc == 0 && buf_append(out, ":", 1))
			rc = RAMP_ENOMEM;
		if (rc == 0)
			rc = tuf_cjson(json_object_get(v, keys[i]), out);
	}
	if (rc == 0 && buf_append(out, "}", 1))
		rc = RAMP_ENOMEM;
	free(keys);
	return rc;
}

int tuf_cjson(const json_t *v, struct buf *out)
{
	size_t i;
	int rc;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return put_object(v, out);
	case JSON_ARRAY:
		if (buf_append(out, "[", 1))
			return RAMP_ENOMEM;
		for (i = 0; i < json_array_size(v); i++) {
			if (i > 0 && buf_append(out, ",", 1))
				return RAMP_ENOMEM;
			rc = tuf_cjson(json_array_get(v, i), out);
			if (rc)
				return rc;
		}
		return buf_append(out, "]", 1) ? RAMP_ENOMEM : 0;
	case JSON_STRING:
		return put_string(out, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		return buf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v))
			       ? RAMP_ENOMEM : 0;
	case JSON_TRUE:
		return buf_puts(out, "true") ? RAMP_ENOMEM : 0;
	case JSON_FALSE:
		return buf_puts(out, "false") ? RAMP_ENOMEM : 0;
	case JSON_NULL:
		return buf_puts(out, "null") ? RAMP_ENOMEM : 0;
	case JSON_REAL:
		return RAMP_EINVAL;
	}
	return RAMP_EINVAL;
}
