/*
 * sched.c - the binary min-heap behind sched.h.
 */
#include "sched.h"

#include <stdlib.h>

static int before(const struct sched_ev *a, const struct sched_ev *b)
{
	return a->at_ms < b->at_ms || (a->at_ms == b->at_ms && a->dev < b->dev);
}

int sched_push(struct sched *s, uint64_t at_ms, uint32_t dev, uint32_t kind)
{
	size_t i;

	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		struct sched_ev *h = realloc(s->h, cap * sizeof(*h));

		if (h == NULL)
			return -1;
		s->h = h;
		s->cap = cap;
	}
	i = s->n++;
	s->h[i] = (struct sched_ev){at_ms, dev, kind};
	while (i > 0) {
		size_t up = (i - 1) / 2;
		struct sched_ev t;

		if (!before(&s->h[i], &s->h[up]))
			break;
		t = s->h[i];
		s->h[i] = s->h[up];
		s->h[up] = t;
		i = up;
	}
	return 0;
}

int sched_pop_due(struct sched *s, uint64_t now_ms, struct sched_ev *out)
{
	size_t i = 0;

	if (s->n == 0 || s->h[0].at_ms > now_ms)
		return 0;
	*out = s->h[0];
	s->h[0] = s->h[--s->n];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		struct sched_ev t;

		if (l < s->n && before(&s->h[l], &s->h[m]))
			m = l;
		if (r < s->n && before(&s->h[r], &s->h[m]))
			m = r;
		if (m == i)
			break;
		t = s->h[i];
		s->h[i] = s->h[m];
		s->h[m] = t;
		i = m;
	}
	return 1;
}

uint64_t sched_next(const struct sched *s)
{
	return s->n ? s->h[0].at_ms : UINT64_MAX;
}

void sched_free(struct sched *s)
{
	free(s->h);
	s->h = NULL;
	s->n = s->cap = 0;
}
