/*
 * buf.c - JSON string literals onto a buffer (buf.h).
 */
#include "buf.h"

int buf_append_json_str(struct buf *b, const char *s)
{
	int rc = buf_append(b, "\"", 1);

	for (; rc == 0 && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			rc = buf_printf(b, "\\%c", c);
		else if (c < 0x20)
			rc = buf_printf(b, "\\u%04x", c);
		else
			rc = buf_append(b, s, 1);
	}
	return rc == 0 ? buf_append(b, "\"", 1) : rc;
}
