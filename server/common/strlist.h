/*
 * strlist.h - a growable list of copied strings, in the order pushed: ids
 * streamed from the store before they are ordered or applied.
 */
#ifndef RAMP_STRLIST_H
#define RAMP_STRLIST_H

#include <stddef.h>

struct strlist {
	char **v;
	size_t n, cap;
};

/* Appends a copy of s. 0 or RAMP_ENOMEM (the list is unchanged). */
int strlist_push(struct strlist *l, const char *s);
/* Frees every copy and the list's array; the list is empty again. */
void strlist_free(struct strlist *l);

#endif
