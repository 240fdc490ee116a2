/*
 * selector.c - parse label selectors (matching and formatting them is
 * selector_match.c).
 *
 * A hand-written lexer splits the text into operators ("!", "=", "==",
 * "!=", ">", ">=", "<", "<=", "(", ")", ",") and identifiers (maximal runs
 * of anything else that is not whitespace); a recursive-descent parser then
 * builds at most SELECTOR_MAX_REQS requirements, validating keys, values and
 * numbers as it goes. Every slot of struct selector starts zeroed and counts
 * what it owns, so selector_free can release a half-built selector too.
 */
#include "domain/selector_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


enum tok_kind {
	T_END, T_IDENT, T_BANG, T_EQ, T_DEQ, T_NE, T_GT, T_GE, T_LT, T_LE,
	T_LPAREN, T_RPAREN, T_COMMA
};

struct token {
	enum tok_kind kind;
	size_t off;
	size_t len;
};

struct parser {
	const char *text;
	size_t pos;
	struct token tok;
	struct selector *sel;
	struct ramp_err *err;
};

/* Longer operators first, so "!=" wins over "!". */
static const struct {
	const char *text;
	enum tok_kind kind;
} ops[] = {
	{"!=", T_NE}, {"==", T_DEQ}, {">=", T_GE}, {"<=", T_LE},
	{"!", T_BANG}, {"=", T_EQ}, {">", T_GT}, {"<", T_LT},
	{"(", T_LPAREN}, {")", T_RPAREN}, {",", T_COMMA},
};

static bool is_special(char c)
{
	return c != '\0' && strchr("!=<>(),", c) != NULL;
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* ---- validation ---- */

/* name: [A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?, at most 63 bytes */
static bool name_valid(const char *s, size_t n)
{
	if (n == 0 || n > SELECTOR_MAX_NAME)
		return false;
	if (!is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return false;
	for (size_t i = 1; i + 1 < n; i++)
		if (!is_alnum(s[i]) && !strchr("._-", s[i]))
			return false;
	return true;
}

/* prefix: RFC 1123 subdomain, lower-case labels joined by dots */
static bool prefix_valid(const char *s, size_t n)
{
	size_t start = 0;

	if (n == 0)
		return false;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '.') {
			char c = s[i];
			if (!(c >= 'a' && c <= 'z') && !is_digit(c) && c != '-')
				return false;
			continue;
		}
		/* label s[start, i) */
		if (i == start || i - start > 63 || s[start] == '-' ||
		    s[i - 1] == '-')
			return false;
		start = i + 1;
	}
	return true;
}

static bool key_valid_n(const char *s, size_t n)
{
	const char *slash;

	if (n == 0 || n > SELECTOR_MAX_KEY)
		return false;
	slash = memchr(s, '/', n);
	if (slash == NULL)
		return name_valid(s, n);
	return prefix_valid(s, (size_t)(slash - s)) &&
	       name_valid(slash + 1, n - (size_t)(slash - s) - 1);
}

static bool value_valid_n(const char *s, size_t n)
{
	if (n > SELECTOR_MAX_VALUE)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && !strchr("._:-", s[i]))
			return false;
	return true;
}

/* -?[0-9]+(.[0-9]+)? */
static bool number_syntax_ok(const char *s, size_t n)
{
	size_t i = 0, d;

	if (i < n && s[i] == '-')
		i++;
	for (d = i; i < n && is_digit(s[i]); i++)
		;
	if (i == d)
		return false;
	if (i < n && s[i] == '.') {
		for (d = ++i; i < n && is_digit(s[i]); i++)
			;
		if (i == d)
			return false;
	}
	return i == n;
}

bool selector_label_key_valid(const char *key)
{
	return key != NULL &&
	       key_valid_n(key, strnlen(key, SELECTOR_MAX_KEY + 1));
}

bool selector_label_value_valid(const char *value)
{
	return value != NULL &&
	       value_valid_n(value, strnlen(value, SELECTOR_MAX_VALUE + 1));
}

/* ---- lexer ---- */

static void lex(struct parser *p)
{
	const char *s = p->text;
	size_t i = p->pos, j;

	while (is_space(s[i]))
		i++;
	p->tok.off = i;
	p->tok.kind = T_END;
	p->tok.len = 0;
	if (s[i] != '\0' && !is_special(s[i])) {
		j = i;
		while (s[j] != '\0' && !is_space(s[j]) && !is_special(s[j]))
			j++;
		p->tok.kind = T_IDENT;
		p->tok.len = j - i;
	} else if (s[i] != '\0') {
		for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
			size_t n = strlen(ops[k].text);
			if (strncmp(s + i, ops[k].text, n) == 0) {
				p->tok.kind = ops[k].kind;
				p->tok.len = n;
				break;
			}
		}
	}
	p->pos = i + p->tok.len;
}

static bool tok_is(const struct parser *p, const char *word)
{
	return p->tok.kind == T_IDENT && p->tok.len == strlen(word) &&
	       memcmp(p->text + p->tok.off, word, p->tok.len) == 0;
}

/* ---- errors ---- */

/* Writes s[0, n) as a quoted, escaped, possibly shortened string. */
static const char *quote(char *buf, size_t len, const char *s, size_t n)
{
	size_t o = 0, shown = n > 32 ? 32 : n;

	buf[o++] = '"';
	for (size_t i = 0; i < shown && o + 8 < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
	}
	snprintf(buf + o, len - o, "%s\"", shown < n ? "..." : "");
	return buf;
}

static int fail(struct parser *p, size_t off, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct parser *p, size_t off, const char *fmt, ...)
{
	char what[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return ramp_err_set(p->err, RAMP_EINVAL, "selector", "%s at offset %zu",
			    what, off);
}

static int fail_tok(struct parser *p, const char *what)
{
	char q[160];

	quote(q, sizeof(q), p->text + p->tok.off, p->tok.len);
	return fail(p, p->tok.off, "%s %s", what, q);
}

static int oom(struct parser *p)
{
	return ramp_err_set(p->err, RAMP_ENOMEM, "selector", "out of memory");
}

/* ---- parser ---- */

static char *dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d != NULL) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* Appends s[0, n) to requirement i's values unless it is already there. */
static int add_value(struct parser *p, size_t i, const char *s, size_t n)
{
	struct selector *sel = p->sel;
	struct selector_req *r = &sel->req[i];

	if (sel->val[i] == NULL) {
		sel->val[i] = calloc(SELECTOR_MAX_VALUES, sizeof(char *));
		if (sel->val[i] == NULL)
			return oom(p);
		r->values = (const char *const *)sel->val[i];
	}
	for (size_t k = 0; k < r->nvalues; k++)
		if (strncmp(r->values[k], s, n) == 0 && r->values[k][n] == '\0')
			return 0; /* already there */
	sel->val[i][r->nvalues] = dup_n(s, n);
	if (sel->val[i][r->nvalues] == NULL)
		return oom(p);
	r->nvalues++;
	return 0;
}

/* Adds the current identifier as a value, or "" when there is none. */
static int take_value(struct parser *p, size_t i)
{
	const char *s = p->text + p->tok.off;
	int rc;

	if (p->tok.kind != T_IDENT)
		return add_value(p, i, "", 0);
	if (p->tok.len > SELECTOR_MAX_VALUE)
		return fail_tok(p, "label value longer than 63 characters:");
	if (!value_valid_n(s, p->tok.len))
		return fail_tok(p, "invalid label value");
	rc = add_value(p, i, s, p->tok.len);
	if (rc == 0)
		lex(p);
	return rc;
}

static int parse_key(struct parser *p, size_t i)
{
	const char *s = p->text + p->tok.off;

	if (p->tok.kind != T_IDENT)
		return fail(p, p->tok.off, "expected label key");
	if (p->tok.len > SELECTOR_MAX_KEY)
		return fail_tok(p, "label key longer than 253 characters:");
	if (!key_valid_n(s, p->tok.len))
		return fail_tok(p, "invalid label key");
	p->sel->key[i] = dup_n(s, p->tok.len);
	if (p->sel->key[i] == NULL)
		return oom(p);
	p->sel->req[i].key = p->sel->key[i];
	lex(p);
	return 0;
}

/* After "=", "==" or "!=": a value, possibly empty as in Kubernetes. */
static int parse_value(struct parser *p, size_t i)
{
	if (p->tok.kind != T_IDENT && p->tok.kind != T_COMMA &&
	    p->tok.kind != T_END)
		return fail(p, p->tok.off, "expected label value");
	return take_value(p, i);
}

/* After "in" or "notin": "(" value {"," value} ")"; values may be empty. */
static int parse_set(struct parser *p, size_t i)
{
	size_t count = 0;
	int rc;

	if (p->tok.kind != T_LPAREN)
		return fail(p, p->tok.off, "expected \"(\"");
	lex(p);
	if (p->tok.kind == T_RPAREN)
		return fail(p, p->tok.off, "empty value set");
	for (;;) {
		if (++count > SELECTOR_MAX_VALUES)
			return fail(p, p->tok.off,
				    "too many values in set (at most %d)",
				    SELECTOR_MAX_VALUES);
		rc = take_value(p, i);
		if (rc != 0)
			return rc;
		if (p->tok.kind == T_RPAREN)
			break;
		if (p->tok.kind != T_COMMA)
			return fail(p, p->tok.off, "expected \",\" or \")\"");
		lex(p);
	}
	lex(p);
	return 0;
}

/* After ">", ">=", "<" or "<=": a decimal number. */
static int parse_number(struct parser *p, size_t i)
{
	const char *s = p->text + p->tok.off;
	char *text;

	if (p->tok.kind != T_IDENT)
		return fail(p, p->tok.off, "expected number");
	if (!number_syntax_ok(s, p->tok.len))
		return fail_tok(p, "invalid number");
	text = dup_n(s, p->tok.len);
	if (text == NULL)
		return oom(p);
	p->sel->num[i] = text;
	p->sel->req[i].number = strtod(text, NULL);
	if (!isfinite(p->sel->req[i].number))
		return fail_tok(p, "number out of range:");
	lex(p);
	return 0;
}

static int parse_operator(struct parser *p, size_t i)
{
	static const enum selector_op numeric[] = {
		[T_GT] = SELECTOR_GT, [T_GE] = SELECTOR_GE,
		[T_LT] = SELECTOR_LT, [T_LE] = SELECTOR_LE,
	};
	struct selector_req *r = &p->sel->req[i];
	enum tok_kind k = p->tok.kind;

	if (k == T_COMMA || k == T_END) {
		r->op = SELECTOR_EXISTS;
		return 0;
	}
	if (k == T_EQ || k == T_DEQ || k == T_NE) {
		r->op = k == T_NE ? SELECTOR_NE : SELECTOR_EQ;
		lex(p);
		return parse_value(p, i);
	}
	if (k == T_GT || k == T_GE || k == T_LT || k == T_LE) {
		r->op = numeric[k];
		lex(p);
		return parse_number(p, i);
	}
	if (tok_is(p, "in") || tok_is(p, "notin")) {
		r->op = tok_is(p, "in") ? SELECTOR_IN : SELECTOR_NOTIN;
		lex(p);
		return parse_set(p, i);
	}
	return fail(p, p->tok.off, "expected operator or \",\"");
}

static int parse_requirement(struct parser *p)
{
	size_t i = p->sel->n;
	bool negated = p->tok.kind == T_BANG;
	int rc;

	if (i == SELECTOR_MAX_REQS)
		return fail(p, p->tok.off, "too many requirements (at most %d)",
			    SELECTOR_MAX_REQS);
	if (negated)
		lex(p);
	rc = parse_key(p, i);
	if (rc == 0 && negated)
		p->sel->req[i].op = SELECTOR_NOTEXISTS;
	else if (rc == 0)
		rc = parse_operator(p, i);
	if (rc == 0)
		p->sel->n++;
	return rc;
}

static int parse_selector(struct parser *p)
{
	int rc;

	lex(p);
	if (p->tok.kind == T_END)
		return 0;
	for (;;) {
		rc = parse_requirement(p);
		if (rc != 0 || p->tok.kind == T_END)
			return rc;
		if (p->tok.kind != T_COMMA)
			return fail(p, p->tok.off,
				    "expected \",\" or end of selector");
		lex(p);
	}
}

int selector_parse(const char *text, struct selector **out,
		   struct ramp_err *err)
{
	struct parser p = {.text = text, .err = err};
	int rc;

	*out = NULL;
	if (text == NULL)
		text = p.text = "";
	if (strnlen(text, SELECTOR_MAX_TEXT + 1) > SELECTOR_MAX_TEXT)
		return ramp_err_set(err, RAMP_EINVAL, "selector",
				    "selector is longer than %d bytes",
				    SELECTOR_MAX_TEXT);
	p.sel = calloc(1, sizeof(*p.sel));
	if (p.sel == NULL)
		return ramp_err_set(err, RAMP_ENOMEM, "selector",
				    "out of memory");
	rc = parse_selector(&p);
	if (rc != 0) {
		selector_free(p.sel);
		return rc;
	}
	*out = p.sel;
	return 0;
}

void selector_free(struct selector *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < SELECTOR_MAX_REQS; i++) {
		for (size_t k = 0; k < s->req[i].nvalues; k++)
			free(s->val[i][k]);
		free(s->val[i]);
		free(s->key[i]);
		free(s->num[i]);
	}
	free(s);
}

size_t selector_count(const struct selector *s)
{
	return s == NULL ? 0 : s->n;
}

const struct selector_req *selector_get(const struct selector *s, size_t i)
{
	return s == NULL || i >= s->n ? NULL : &s->req[i];
}
