/*
 * gitops_line.c - the line a field path points at in YAML text, so a sync
 * status can say "policies/canary.yaml:7: stages[1].size must be ...".
 * The parsers name fields, not lines; this follows the path's keys and list
 * items through the text by indentation. Pure, best effort: 0 when lost.
 */
#include "domain/gitops.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

struct line {
	const char *s;
	size_t n;
	int indent;
};

/* The content of a line after its indent and any "- " list markers. */
static const char *content(const struct line *l, size_t *n, bool *item)
{
	const char *p = l->s + l->indent, *end = l->s + l->n;

	*item = false;
	while (p < end && *p == '-' && (p + 1 == end || p[1] == ' ')) {
		*item = true;
		p++;
		while (p < end && *p == ' ')
			p++;
	}
	*n = (size_t)(end - p);
	return p;
}

static bool key_at(const struct line *l, const char *key, size_t klen)
{
	size_t n;
	bool item;
	const char *c = content(l, &n, &item);

	if (n > klen + 1 && c[0] == '"' && memcmp(c + 1, key, klen) == 0 && c[klen + 1] == '"')
		return n > klen + 2 && c[klen + 2] == ':';
	return n > klen && memcmp(c, key, klen) == 0 && c[klen] == ':';
}

static bool blank(const struct line *l)
{
	return l->indent >= (int)l->n || l->s[l->indent] == '#';
}

/* Splits text into lines (at most max); the count. */
static size_t split(const char *text, size_t len, struct line *ls, size_t max)
{
	size_t n = 0, i = 0;

	while (i < len && n < max) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t e = nl ? (size_t)(nl - text) : len;
		ls[n].s = text + i;
		ls[n].n = e - i;
		ls[n].indent = 0;
		while ((size_t)ls[n].indent < ls[n].n && ls[n].s[ls[n].indent] == ' ')
			ls[n].indent++;
		n++;
		i = e + 1;
	}
	return n;
}

/* The index of the idx-th list item below line at (indent deeper than
 * parent), or -1. */
static long item_after(const struct line *ls, size_t n, size_t at, int parent, long idx)
{
	int item_indent = -1;

	for (size_t i = at + 1; i < n; i++) {
		size_t cn;
		bool item;
		if (blank(&ls[i]))
			continue;
		if (ls[i].indent <= parent && !(ls[i].indent == parent && ls[i].s[parent] == '-'))
			return -1;
		content(&ls[i], &cn, &item);
		if (!item)
			continue;
		if (item_indent < 0)
			item_indent = ls[i].indent;
		if (ls[i].indent == item_indent && idx-- == 0)
			return (long)i;
	}
	return -1;
}

int gitops_line_of(const char *text, size_t len, const char *field)
{
	enum { MAXL = 20000 };
	struct line *ls;
	size_t n, cur = 0;
	int parent = -1, found = 0;
	const char *f = field;

	if (text == NULL || field == NULL || *field == '\0')
		return 0;
	ls = malloc(MAXL * sizeof(*ls));
	if (ls == NULL)
		return 0;
	n = split(text, len, ls, MAXL);
	while (*f) {
		if (*f == '.') {
			f++;
			continue;
		}
		if (*f == '[') {
			long idx = strtol(f + 1, NULL, 10), at;
			f = strchr(f, ']');
			if (f == NULL || found == 0 ||
			    (at = item_after(ls, n, cur, ls[cur].indent, idx)) < 0)
				goto lost;
			cur = (size_t)at;
			f++;
			continue;
		}
		{
			size_t klen = strcspn(f, ".[");
			size_t i = found ? cur : 0;
			for (; i < n; i++)
				if (!blank(&ls[i]) && ls[i].indent > parent - (found ? 0 : 1) &&
				    key_at(&ls[i], f, klen))
					break;
			if (i == n)
				goto lost;
			parent = ls[i].indent;
			cur = i;
			found = 1;
			f += klen;
		}
	}
	free(ls);
	return found ? (int)cur + 1 : 0;
lost:
	free(ls);
	return found ? (int)cur + 1 : 0;
}
