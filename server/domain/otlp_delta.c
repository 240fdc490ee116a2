/*
 * otlp_delta.c - cumulative OTLP streams turned into increases, and the
 * text a stream's last point is kept in.
 *
 * The state of a stream is its last counted point; the store keeps it in
 * PostgreSQL and updates it in the transaction that writes the rows, with
 * the stream's row locked, so that the same stream arriving at two
 * replicas, or twice at one, is counted once (docs/telemetry.md).
 */
#include "domain/otlp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_hist(const struct otlp_point *p)
{
	return p->field == OTLP_LATENCY || p->field == OTLP_CONFIDENCE;
}

static void state_of(const struct otlp_point *p, struct otlp_state *s)
{
	memset(s, 0, sizeof(*s));
	s->start_ns = p->start_ns;
	s->time_ns = p->time_ns;
	s->value = p->value;
	s->count = p->count;
	s->bounds_hash = p->bounds_hash;
	s->nb = is_hist(p) ? p->nb : 0;
	if (is_hist(p))
		memcpy(s->counts, p->counts, (p->nb + 1) * sizeof(uint64_t));
}

/* True when some value of p is below prev's, or its buckets changed. */
static bool went_down(const struct otlp_state *prev, const struct otlp_point *p)
{
	if (!is_hist(p))
		return p->value < prev->value;
	if (p->nb != prev->nb || p->bounds_hash != prev->bounds_hash || p->count < prev->count)
		return true;
	for (uint32_t i = 0; i <= p->nb; i++)
		if (p->counts[i] < prev->counts[i])
			return true;
	return false;
}

bool otlp_verdict_counts(enum otlp_verdict v)
{
	return v == OTLP_DELTA || v == OTLP_RESET || v == OTLP_FIRST;
}

enum otlp_verdict otlp_delta(const struct otlp_state *prev_in, const struct otlp_point *p,
			     double ttl_s, struct otlp_point *d, struct otlp_state *next)
{
	struct otlp_state old;
	const struct otlp_state *prev = NULL;

	if (prev_in != NULL) { /* next may be prev_in */
		old = *prev_in;
		prev = &old;
	}
	*d = *p;
	if (prev == NULL) {
		state_of(p, next);
		/* began within the TTL: it cannot have been seen and evicted */
		if (p->start_ns != 0 && p->start_ns <= p->time_ns &&
		    (double)(p->time_ns - p->start_ns) / 1e9 <= ttl_s)
			return OTLP_FIRST;
		return OTLP_BASELINE;
	}
	if (p->start_ns < prev->start_ns ||
	    (p->start_ns == prev->start_ns && p->time_ns <= prev->time_ns) ||
	    (p->start_ns > prev->start_ns && p->time_ns <= prev->time_ns)) {
		*next = *prev;
		return OTLP_STALE;
	}
	state_of(p, next);
	if (p->start_ns != prev->start_ns || went_down(prev, p))
		return OTLP_RESET;
	if (!is_hist(p)) {
		d->value = p->value - prev->value;
		return OTLP_DELTA;
	}
	for (uint32_t i = 0; i <= p->nb; i++)
		d->counts[i] = p->counts[i] - prev->counts[i];
	d->count = p->count - prev->count;
	return OTLP_DELTA;
}

size_t otlp_state_format(const struct otlp_state *s, char *out)
{
	size_t len;
	uint32_t nb = s->nb > OTLP_BOUNDS_MAX ? OTLP_BOUNDS_MAX : s->nb;
	int n = snprintf(out, OTLP_STATE_TEXT_MAX, "1 %llu %llu %.17g %llu %llu %u",
			 (unsigned long long)s->start_ns, (unsigned long long)s->time_ns, s->value,
			 (unsigned long long)s->count, (unsigned long long)s->bounds_hash, nb);

	len = n > 0 ? (size_t)n : 0;
	for (uint32_t i = 0; i <= nb && len < OTLP_STATE_TEXT_MAX; i++) {
		n = snprintf(out + len, OTLP_STATE_TEXT_MAX - len, " %llu",
			     (unsigned long long)s->counts[i]);
		len += n > 0 ? (size_t)n : 0;
	}
	return len < OTLP_STATE_TEXT_MAX ? len : OTLP_STATE_TEXT_MAX - 1;
}

/* One space and an unsigned decimal at *p into *out; false otherwise. */
static bool read_u64(const char **p, uint64_t *out)
{
	char *end;

	if (**p != ' ' || (*p)[1] < '0' || (*p)[1] > '9')
		return false;
	errno = 0;
	*out = strtoull(*p + 1, &end, 10);
	if (errno != 0)
		return false;
	*p = end;
	return true;
}

int otlp_state_parse(const char *s, struct otlp_state *out)
{
	const char *p = s + 1;
	uint64_t nb;
	char *end;

	memset(out, 0, sizeof(*out));
	if (s[0] != '1' || !read_u64(&p, &out->start_ns) || !read_u64(&p, &out->time_ns) ||
	    *p != ' ')
		return RAMP_EINVAL;
	out->value = strtod(p + 1, &end);
	if (end == p + 1)
		return RAMP_EINVAL;
	p = end;
	if (!read_u64(&p, &out->count) || !read_u64(&p, &out->bounds_hash) || !read_u64(&p, &nb) ||
	    nb > OTLP_BOUNDS_MAX)
		return RAMP_EINVAL;
	out->nb = (uint32_t)nb;
	for (uint32_t i = 0; i <= nb; i++)
		if (!read_u64(&p, &out->counts[i]))
			return RAMP_EINVAL;
	return *p == '\0' ? 0 : RAMP_EINVAL;
}
