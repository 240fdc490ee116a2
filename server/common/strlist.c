/*
 * strlist.c - a growable list of copied strings (strlist.h).
 */
#include "common/strlist.h"

#include "common/err.h"

#include <stdlib.h>
#include <string.h>

int strlist_push(struct strlist *l, const char *s)
{
	char *copy;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 256;
		char **v = realloc(l->v, cap * sizeof(*v));
		if (v == NULL)
			return RAMP_ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	if ((copy = strdup(s)) == NULL)
		return RAMP_ENOMEM;
	l->v[l->n++] = copy;
	return 0;
}

void strlist_free(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}
