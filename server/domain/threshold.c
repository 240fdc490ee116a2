/*
 * threshold.c - parses and evaluates metric thresholds (see threshold.h).
 *
 * Grammar, spaces allowed between tokens:
 *   op number [unit]            absolute: "< 150ms", "> -5", "<= 1.5s"
 *   op number "x" "baseline"    factor:   "< 2x baseline"
 *   op "baseline" (+|-) number [unit]     "< baseline + 50ms"
 * with op one of < > <= >= and unit one of ms s % as the metric allows.
 */
#include "domain/threshold.h"

#include "domain/units.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* Advances past word when it starts p and is not followed by a letter. */
static bool eat_word(const char **pp, const char *word)
{
	size_t n = strlen(word);
	char c;

	if (strncmp(*pp, word, n) != 0)
		return false;
	c = (*pp)[n];
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
		return false;
	*pp += n;
	return true;
}

static const char *parse_op(const char *p, enum threshold_op *op)
{
	if (p[0] != '<' && p[0] != '>')
		return NULL;
	if (p[1] == '=') {
		*op = p[0] == '<' ? THRESHOLD_LE : THRESHOLD_GE;
		return p + 2;
	}
	*op = p[0] == '<' ? THRESHOLD_LT : THRESHOLD_GT;
	return p + 1;
}

/*
 * Sets *shift, the power of ten that turns unit into the metric's base
 * unit. Returns 0, RAMP_EINVAL when the unit does not apply to the kind,
 * RAMP_EMALFORMED when it is no unit at all.
 */
static int unit_shift(enum metric_kind kind, const char *unit, size_t n,
		      int *shift)
{
	bool pct = n == 1 && unit[0] == '%';
	bool ms = n == 2 && unit[0] == 'm' && unit[1] == 's';
	bool sec = n == 1 && unit[0] == 's';

	*shift = 0;
	if (n == 0)
		return 0;
	if (!pct && !ms && !sec)
		return RAMP_EMALFORMED;
	if (kind == METRIC_KIND_PROM) {
		*shift = pct ? -2 : ms ? -3 : 0;
		return 0;
	}
	if (pct && kind != METRIC_KIND_MILLIS) {
		*shift = kind == METRIC_KIND_RATIO ? -2 : 0;
		return 0;
	}
	if ((ms || sec) && kind == METRIC_KIND_MILLIS) {
		*shift = sec ? 3 : 0;
		return 0;
	}
	return RAMP_EINVAL;
}

struct tp {
	const char *text;
	enum metric_kind kind;
	const char *label; /* the metric's name, for messages */
	const char *field;
	struct ramp_err *err;
};

static int bad(const struct tp *t, const char *why)
{
	return ramp_err_set(t->err, RAMP_EINVAL, t->field,
			    "invalid threshold \"%s\": %s", t->text, why);
}

/* number [unit] at *pp, in base units; leaves *pp after the unit. */
static int parse_quantity(const struct tp *t, const char **pp, double *v)
{
	const char *p = *pp, *u;
	size_t n = units_scan_number(p), un = 0;
	int shift, rc;

	if (n == 0)
		return bad(t, "expected a number");
	u = skip_ws(p + n);
	while (u[un] != '\0' && u[un] != ' ' && u[un] != '\t')
		un++;
	rc = unit_shift(t->kind, u, un, &shift);
	if (rc < 0) {
		char why[96];

		if (rc == RAMP_EMALFORMED)
			snprintf(why, sizeof(why), "unknown unit \"%.*s\"",
				 (int)(un > 16 ? 16 : un), u);
		else
			snprintf(why, sizeof(why),
				 "unit \"%.*s\" does not apply to %s", (int)un, u,
				 t->label);
		return bad(t, why);
	}
	if (units_parse_decimal(p, n, shift, v) < 0)
		return bad(t, "number is out of range");
	*pp = u + un;
	return 0;
}

/* After "baseline": (+|-) quantity, to the end of the text. */
static int parse_relative(const struct tp *t, const char *p,
			  struct threshold *out)
{
	double sign;
	int rc;

	p = skip_ws(p);
	if (*p != '+' && *p != '-')
		return bad(t, "expected + or - after baseline");
	sign = *p == '-' ? -1.0 : 1.0;
	p = skip_ws(p + 1);
	rc = parse_quantity(t, &p, &out->value);
	if (rc < 0)
		return rc;
	if (*skip_ws(p) != '\0')
		return bad(t, "unexpected text after the offset");
	out->value *= sign;
	out->kind = THRESHOLD_BASELINE_PLUS;
	return 0;
}

/* After "number": "x baseline", to the end of the text. */
static int parse_factor(const struct tp *t, const char *num, size_t n,
			const char *p, struct threshold *out)
{
	p = skip_ws(p);
	if (!eat_word(&p, "baseline") || *skip_ws(p) != '\0')
		return bad(t, "expected a factor like 2x baseline");
	if (units_parse_decimal(num, n, 0, &out->value) < 0 ||
	    out->value <= 0)
		return bad(t, "factor must be a positive number");
	out->kind = THRESHOLD_RATIO_OF_BASELINE;
	return 0;
}

/* After the operator: a relative, factor or absolute limit. */
static int parse_limit(const struct tp *t, const char *p, struct threshold *out)
{
	const char *q;
	size_t n;
	bool neg = false;
	int rc;

	if (eat_word(&p, "baseline"))
		return parse_relative(t, p, out);
	if (*p == '-') {
		neg = true;
		p++;
	}
	n = units_scan_number(p);
	q = skip_ws(p + n);
	if (n > 0 && *q == 'x') {
		if (neg)
			return bad(t, "factor must be a positive number");
		return parse_factor(t, p, n, q + 1, out);
	}
	rc = parse_quantity(t, &p, &out->value);
	if (rc < 0)
		return rc;
	if (*skip_ws(p) != '\0')
		return bad(t, "unexpected text after the number");
	if (neg)
		out->value = -out->value;
	out->kind = THRESHOLD_ABSOLUTE;
	return 0;
}

int threshold_parse(const char *text, enum metric_id metric, const char *field,
		    struct threshold *out, struct ramp_err *err)
{
	return threshold_parse_kind(text, metric_kind_of(metric), metric_name(metric), field, out,
				    err);
}

int threshold_parse_kind(const char *text, enum metric_kind kind, const char *label,
			 const char *field, struct threshold *out, struct ramp_err *err)
{
	struct tp t = {text, kind, label, field, err};
	const char *p;

	if (text == NULL || out == NULL)
		return ramp_err_set(err, RAMP_EINVAL, field, "is required");
	memset(out, 0, sizeof(*out));
	p = parse_op(skip_ws(text), &out->op);
	if (p == NULL)
		return bad(&t, "must start with <, >, <= or >=");
	return parse_limit(&t, skip_ws(p), out);
}

int threshold_eval(const struct threshold *t, double value, double baseline,
		   bool have_baseline)
{
	double limit = t->value;

	if (isnan(value))
		return -1;
	if (t->kind != THRESHOLD_ABSOLUTE) {
		if (!have_baseline || !isfinite(baseline))
			return -1;
		limit = t->kind == THRESHOLD_RATIO_OF_BASELINE
				? t->value * baseline
				: baseline + t->value;
		/* "< 2x baseline" against a perfect baseline (0 errors): a canary
		 * that is just as perfect is not worse, so it passes */
		if (t->kind == THRESHOLD_RATIO_OF_BASELINE && baseline == 0 && value == 0)
			return 1;
	}
	switch (t->op) {
	case THRESHOLD_LT:
		return value < limit;
	case THRESHOLD_GT:
		return value > limit;
	case THRESHOLD_LE:
		return value <= limit;
	case THRESHOLD_GE:
		return value >= limit;
	}
	return -1;
}

const char *threshold_op_name(enum threshold_op op)
{
	static const char *const names[] = {"<", ">", "<=", ">="};

	if ((int)op < 0 || op > THRESHOLD_GE)
		return "?";
	return names[op];
}
