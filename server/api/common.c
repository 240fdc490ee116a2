/*
 * common.c - helpers shared by the API handlers.
 */
#include "api/api.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int api_limit(struct req *r)
{
	const char *v = http_query(r, "limit");
	char *end;
	long n;

	if (v == NULL)
		return 100;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || end == v || *end || n < 1 || n > 1000) {
		http_reply_problem(r, 400, "limit", "limit must be an integer from 1 to 1000");
		return -1;
	}
	return (int)n;
}

void api_reply_page(struct req *r, struct page *p)
{
	json_t *j = json_object();

	json_object_set_new(j, "items", p->items ? p->items : json_array());
	json_object_set_new(j, "next", p->next ? json_string(p->next) : json_null());
	p->items = NULL;
	page_free(p);
	http_reply_json(r, 200, j);
}

bool api_name_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 63)
		return false;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

bool api_device_id_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' ||
		      s[i] == ':' || s[i] == '-'))
			return false;
	return true;
}
