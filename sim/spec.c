/*
 * spec.c - parsing the simulator's fleet description (spec.h).
 */
#include "spec.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Copies [p, p+n) into dst[cap]; -1 when it does not fit or is empty. */
static int copy_part(char *dst, size_t cap, const char *p, size_t n)
{
	if (n == 0 || n >= cap)
		return -1;
	memcpy(dst, p, n);
	dst[n] = '\0';
	return 0;
}

static int parse_num(const char *p, size_t n, double *out)
{
	char tmp[64], *end;

	if (copy_part(tmp, sizeof(tmp), p, n) != 0)
		return -1;
	errno = 0;
	*out = strtod(tmp, &end);
	return errno || *end || !isfinite(*out) ? -1 : 0;
}

int spec_parse_platforms(struct spec *s, const char *text, char *err, size_t errlen)
{
	const char *p = text;
	double sum = 0;

	s->nplatforms = 0;
	while (*p) {
		size_t n = strcspn(p, ","), nn = strcspn(p, ":");
		struct spec_platform *pl;

		if (s->nplatforms == SPEC_MAX_PLATFORMS)
			return fail(err, errlen, "platforms: at most %d", SPEC_MAX_PLATFORMS);
		pl = &s->platforms[s->nplatforms];
		if (nn > n)
			nn = n;
		if (copy_part(pl->name, sizeof(pl->name), p, nn) != 0)
			return fail(err, errlen, "platforms: bad platform name near \"%.*s\"", (int)n, p);
		pl->weight = 1;
		if (nn < n && (parse_num(p + nn + 1, n - nn - 1, &pl->weight) != 0 || pl->weight <= 0))
			return fail(err, errlen, "platforms: %s: weight must be a number above 0",
				    pl->name);
		sum += pl->weight;
		s->nplatforms++;
		p += n + (p[n] == ',');
	}
	if (s->nplatforms == 0)
		return fail(err, errlen, "platforms: at least one platform is needed");
	for (size_t i = 0; i < s->nplatforms; i++)
		s->platforms[i].weight /= sum;
	return 0;
}

static int add_value(struct spec_label *l, const char *pre, size_t npre, const char *mid,
		     size_t nmid, const char *post)
{
	size_t n = npre + nmid + strlen(post);
	char *v;

	if (l->nvalues == SPEC_MAX_VALUES || (v = malloc(n + 1)) == NULL)
		return -1;
	memcpy(v, pre, npre);
	memcpy(v + npre, mid, nmid);
	memcpy(v + npre + nmid, post, strlen(post) + 1);
	l->values[l->nvalues++] = v;
	return 0;
}

/* Expands pattern (one optional brace group) into l->values. */
static int expand(struct spec_label *l, const char *pat, char *err, size_t errlen)
{
	const char *open = strchr(pat, '{'), *close, *body;
	long lo, hi;
	char *end;

	if ((l->values = calloc(SPEC_MAX_VALUES, sizeof(char *))) == NULL)
		return fail(err, errlen, "labels: out of memory");
	if (open == NULL)
		return add_value(l, pat, strlen(pat), "", 0, "");
	if ((close = strchr(open, '}')) == NULL || strchr(close + 1, '{'))
		return fail(err, errlen, "labels: %s: one {..} group per value", l->key);
	body = open + 1;
	lo = strtol(body, &end, 10);
	if (end != body && strncmp(end, "..", 2) == 0) {
		const char *h = end + 2;

		hi = strtol(h, &end, 10);
		if (end == h || end != close || hi < lo || hi - lo >= SPEC_MAX_VALUES)
			return fail(err, errlen, "labels: %s: bad range", l->key);
		for (long i = lo; i <= hi; i++) {
			char num[24];
			int n = snprintf(num, sizeof(num), "%ld", i);

			if (add_value(l, pat, (size_t)(open - pat), num, (size_t)n, close + 1) != 0)
				return fail(err, errlen, "labels: %s: too many values", l->key);
		}
		return 0;
	}
	while (body <= close) {
		size_t n = strcspn(body, ",}");

		if (add_value(l, pat, (size_t)(open - pat), body, n, close + 1) != 0)
			return fail(err, errlen, "labels: %s: too many values", l->key);
		body += n + 1;
	}
	return 0;
}

int spec_parse_labels(struct spec *s, const char *text, char *err, size_t errlen)
{
	const char *p = text;

	while (*p) {
		size_t n = 0, eq;
		int depth = 0;
		char pat[1024];
		struct spec_label *l;

		while (p[n] && (depth > 0 || p[n] != ',')) {
			depth += (p[n] == '{') - (p[n] == '}');
			n++;
		}
		eq = strcspn(p, "=");
		if (s->nlabels == SPEC_MAX_LABELS)
			return fail(err, errlen, "labels: at most %d", SPEC_MAX_LABELS);
		l = &s->labels[s->nlabels];
		memset(l, 0, sizeof(*l));
		if (eq >= n || copy_part(l->key, sizeof(l->key), p, eq) != 0)
			return fail(err, errlen, "labels: expected key=value near \"%.*s\"", (int)n, p);
		if (copy_part(pat, sizeof(pat), p + eq + 1, n - eq - 1) != 0)
			return fail(err, errlen, "labels: %s: empty value", l->key);
		s->nlabels++;
		if (expand(l, pat, err, errlen) != 0)
			return -1;
		p += n + (p[n] == ',');
	}
	return 0;
}

static int set_knob(struct spec_fault *f, const char *k, size_t nk, double v)
{
	static const char *const names[] = {"errors", "latency_x", "confidence_shift",
					    "install_fail"};
	double *dst[] = {&f->errors, &f->latency_x, &f->confidence_shift, &f->install_fail};

	for (size_t i = 0; i < 4; i++) {
		if (strlen(names[i]) == nk && strncmp(names[i], k, nk) == 0) {
			if (v < 0 || ((i == 0 || i == 3) && v > 1) || (i == 1 && v == 0))
				return -1;
			*dst[i] = v;
			return 0;
		}
	}
	return -1;
}

int spec_parse_fault(struct spec *s, const char *text, char *err, size_t errlen)
{
	size_t colon = strcspn(text, ":"), at = strcspn(text, "@");
	struct spec_fault *f;
	const char *p;

	if (s->nfaults == SPEC_MAX_FAULTS)
		return fail(err, errlen, "fault: at most %d", SPEC_MAX_FAULTS);
	f = &s->faults[s->nfaults];
	memset(f, 0, sizeof(*f));
	f->errors = -1;
	f->latency_x = 1;
	if (text[colon] != ':')
		return fail(err, errlen, "fault: expected version[@platform]:knob=value in \"%s\"",
			    text);
	if (at > colon)
		at = colon;
	if (copy_part(f->version, sizeof(f->version), text, at) != 0)
		return fail(err, errlen, "fault: bad version in \"%s\"", text);
	if (at < colon &&
	    copy_part(f->platform, sizeof(f->platform), text + at + 1, colon - at - 1) != 0)
		return fail(err, errlen, "fault: bad platform in \"%s\"", text);
	for (p = text + colon + 1; *p;) {
		size_t n = strcspn(p, ","), eq = strcspn(p, "=");
		double v;

		if (eq >= n || parse_num(p + eq + 1, n - eq - 1, &v) != 0 ||
		    set_knob(f, p, eq, v) != 0)
			return fail(err, errlen,
				    "fault: bad knob \"%.*s\" (errors and install_fail in [0,1],"
				    " latency_x > 0, confidence_shift >= 0)",
				    (int)n, p);
		p += n + (p[n] == ',');
	}
	s->nfaults++;
	return 0;
}

const struct spec_fault *spec_fault_for(const struct spec *s, const char *version,
					const char *platform)
{
	for (size_t i = 0; i < s->nfaults; i++) {
		const struct spec_fault *f = &s->faults[i];

		if (strcmp(f->version, version) == 0 &&
		    (f->platform[0] == '\0' || strcmp(f->platform, platform) == 0))
			return f;
	}
	return NULL;
}

size_t spec_platform_of(const struct spec *s, size_t i, size_t n)
{
	/* the golden-ratio sequence spreads evenly: shares are exact to within
	 * a device or two at any n, and neighbours differ */
	double x = fmod((double)i * 0.6180339887498949 + 0.5, 1.0), acc = 0;

	(void)n;
	for (size_t k = 0; k + 1 < s->nplatforms; k++) {
		acc += s->platforms[k].weight;
		if (x < acc)
			return k;
	}
	return s->nplatforms ? s->nplatforms - 1 : 0;
}

void spec_free(struct spec *s)
{
	for (size_t i = 0; i < s->nlabels; i++) {
		for (size_t j = 0; j < s->labels[i].nvalues; j++)
			free(s->labels[i].values[j]);
		free(s->labels[i].values);
		s->labels[i].values = NULL;
		s->labels[i].nvalues = 0;
	}
	s->nlabels = 0;
}

void spec_rng_seed(struct spec_rng *r, uint64_t seed)
{
	r->s = seed ^ 0x9e3779b97f4a7c15ULL;
}

uint64_t spec_rng_next(struct spec_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

double spec_rng_unit(struct spec_rng *r)
{
	return (double)(spec_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

double spec_rng_normal(struct spec_rng *r)
{
	double u1 = spec_rng_unit(r), u2 = spec_rng_unit(r);

	if (u1 < 1e-300)
		u1 = 1e-300;
	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}
