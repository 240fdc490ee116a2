/* test_selector.c - label selectors parse, match, reject and format as specified. */
#include "domain/selector.h"
#include "common/err.h"
#include "unit.h"

/* NULL-terminated {key, value, key, value, ...} list. */
static const char *lookup(void *ctx, const char *key)
{
	const char *const *kv = ctx;

	for (; kv[0] != NULL; kv += 2)
		if (strcmp(kv[0], key) == 0)
			return kv[1];
	return NULL;
}

/* 1 when text parses and matches labels, 0 when it does not match, -1 on a parse error. */
static int matches(const char *text, const char *const *labels)
{
	struct selector *s;
	struct ramp_err e;
	int m;

	if (selector_parse(text, &s, &e) != 0)
		return -1;
	m = selector_match(s, lookup, (void *)labels);
	selector_free(s);
	return m;
}

static void check_rejects(const char *text, const char *msg)
{
	struct selector *s = (struct selector *)1;
	struct ramp_err e;

	ramp_err_clear(&e);
	CHECK_EQ_INT(selector_parse(text, &s, &e), RAMP_EINVAL);
	CHECK(s == NULL);
	CHECK_EQ_INT(e.code, RAMP_EINVAL);
	CHECK_EQ_STR(e.field, "selector");
	if (msg != NULL)
		CHECK_EQ_STR(e.msg, msg);
	if (msg != NULL && strcmp(e.msg, msg) != 0)
		fprintf(stderr, "  while parsing \"%s\"\n", text);
}

static struct selector *parse_ok(const char *text)
{
	struct selector *s = NULL;
	struct ramp_err e;

	ramp_err_clear(&e);
	if (selector_parse(text, &s, &e) != 0)
		fprintf(stderr, "  parse \"%s\" failed: %s\n", text, e.msg);
	CHECK(s != NULL);
	return s;
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void empty_and_blank_selectors_match_everything(void)
{
	static const char *none[] = {NULL};
	static const char *some[] = {"site", "wh-3", NULL};
	struct selector *s = parse_ok(" \t\n\r ");

	CHECK_EQ_INT(selector_count(s), 0);
	CHECK(selector_get(s, 0) == NULL);
	selector_free(s);
	CHECK_EQ_INT(matches("", none), 1);
	CHECK_EQ_INT(matches("", some), 1);
	CHECK_EQ_INT(matches("   ", some), 1);
	CHECK_EQ_INT(matches(NULL, some), 1);
	CHECK(selector_match(NULL, lookup, (void *)some));
}

static void equality_parses_key_op_and_one_value(void)
{
	const char *texts[] = {"site=wh-3", "site==wh-3"};

	for (int t = 0; t < 2; t++) {
		struct selector *s = parse_ok(texts[t]);
		const struct selector_req *r = selector_get(s, 0);
		CHECK_EQ_INT(selector_count(s), 1);
		CHECK_EQ_STR(r->key, "site");
		CHECK_EQ_INT(r->op, SELECTOR_EQ);
		CHECK_EQ_INT(r->nvalues, 1);
		CHECK_EQ_STR(r->values[0], "wh-3");
		selector_free(s);
	}
}

static void equality_needs_label_present_and_equal(void)
{
	static const char *wh3[] = {"site", "wh-3", NULL};
	static const char *wh4[] = {"site", "wh-4", NULL};
	static const char *none[] = {"other", "wh-3", NULL};

	CHECK_EQ_INT(matches("site=wh-3", wh3), 1);
	CHECK_EQ_INT(matches("site==wh-3", wh3), 1);
	CHECK_EQ_INT(matches("site=wh-3", wh4), 0);
	CHECK_EQ_INT(matches("site=wh-3", none), 0);
	CHECK_EQ_INT(matches("site=wh", wh3), 0);
}

static void empty_value_equality_matches_only_empty_label(void)
{
	static const char *empty[] = {"k", "", NULL};
	static const char *full[] = {"k", "x", NULL};
	static const char *none[] = {NULL};
	struct selector *s = parse_ok("k=,j");

	CHECK_EQ_INT(selector_count(s), 2);
	CHECK_EQ_INT(selector_get(s, 0)->op, SELECTOR_EQ);
	CHECK_EQ_STR(selector_get(s, 0)->values[0], "");
	CHECK_EQ_INT(selector_get(s, 1)->op, SELECTOR_EXISTS);
	selector_free(s);
	CHECK_EQ_INT(matches("k=", empty), 1);
	CHECK_EQ_INT(matches("k=", full), 0);
	CHECK_EQ_INT(matches("k=", none), 0);
	CHECK_EQ_INT(matches("k!=", empty), 0);
	CHECK_EQ_INT(matches("k!=", full), 1);
}

static void inequality_matches_absent_or_different_label(void)
{
	static const char *wh3[] = {"site", "wh-3", NULL};
	static const char *wh4[] = {"site", "wh-4", NULL};
	static const char *none[] = {NULL};
	struct selector *s = parse_ok("site!=wh-3");

	CHECK_EQ_INT(selector_get(s, 0)->op, SELECTOR_NE);
	CHECK_EQ_STR(selector_get(s, 0)->values[0], "wh-3");
	selector_free(s);
	CHECK_EQ_INT(matches("site!=wh-3", wh3), 0);
	CHECK_EQ_INT(matches("site!=wh-3", wh4), 1);
	CHECK_EQ_INT(matches("site!=wh-3", none), 1);
}

static void in_set_keeps_values_in_order_without_duplicates(void)
{
	struct selector *s = parse_ok("site in (wh-4,wh-3,wh-4)");
	const struct selector_req *r = selector_get(s, 0);

	CHECK_EQ_INT(r->op, SELECTOR_IN);
	CHECK_EQ_STR(r->key, "site");
	CHECK_EQ_INT(r->nvalues, 2);
	CHECK_EQ_STR(r->values[0], "wh-4");
	CHECK_EQ_STR(r->values[1], "wh-3");
	selector_free(s);
}

static void in_matches_members_of_present_label(void)
{
	static const char *wh3[] = {"site", "wh-3", NULL};
	static const char *wh5[] = {"site", "wh-5", NULL};
	static const char *none[] = {NULL};

	CHECK_EQ_INT(matches("site in (wh-3,wh-4)", wh3), 1);
	CHECK_EQ_INT(matches("site in (wh-3,wh-4)", wh5), 0);
	CHECK_EQ_INT(matches("site in (wh-3,wh-4)", none), 0);
	CHECK_EQ_INT(matches("site in(wh-3)", wh3), 1);
}

static void notin_matches_absent_or_nonmember_label(void)
{
	static const char *wh3[] = {"site", "wh-3", NULL};
	static const char *wh5[] = {"site", "wh-5", NULL};
	static const char *none[] = {NULL};
	struct selector *s = parse_ok("site notin (wh-3,wh-4)");

	CHECK_EQ_INT(selector_get(s, 0)->op, SELECTOR_NOTIN);
	CHECK_EQ_INT(selector_get(s, 0)->nvalues, 2);
	selector_free(s);
	CHECK_EQ_INT(matches("site notin (wh-3,wh-4)", wh3), 0);
	CHECK_EQ_INT(matches("site notin (wh-3,wh-4)", wh5), 1);
	CHECK_EQ_INT(matches("site notin (wh-3,wh-4)", none), 1);
}

static void set_with_spaces_inside_parentheses(void)
{
	static const char *b[] = {"k", "b", NULL};
	struct selector *s = parse_ok("k in ( a , b )");
	const struct selector_req *r = selector_get(s, 0);

	CHECK_EQ_INT(r->nvalues, 2);
	CHECK_EQ_STR(r->values[0], "a");
	CHECK_EQ_STR(r->values[1], "b");
	selector_free(s);
	CHECK_EQ_INT(matches("k in ( a , b )", b), 1);
	CHECK_EQ_INT(matches("k notin ( a , b )", b), 0);
}

static void set_empty_members_follow_kubernetes(void)
{
	static const char *empty[] = {"k", "", NULL};
	struct selector *s = parse_ok("k in (a,)");

	CHECK_EQ_INT(selector_get(s, 0)->nvalues, 2);
	CHECK_EQ_STR(selector_get(s, 0)->values[1], "");
	selector_free(s);
	s = parse_ok("k in (,)");
	CHECK_EQ_INT(selector_get(s, 0)->nvalues, 1);
	CHECK_EQ_STR(selector_get(s, 0)->values[0], "");
	selector_free(s);
	CHECK_EQ_INT(matches("k in (a,)", empty), 1);
	CHECK_EQ_INT(matches("k in (a,b)", empty), 0);
}

static void exists_and_not_exists_test_presence_only(void)
{
	static const char *gpu[] = {"gpu", "", NULL};
	static const char *none[] = {NULL};
	struct selector *s = parse_ok("gpu,!legacy");

	CHECK_EQ_INT(selector_count(s), 2);
	CHECK_EQ_INT(selector_get(s, 0)->op, SELECTOR_EXISTS);
	CHECK_EQ_INT(selector_get(s, 0)->nvalues, 0);
	CHECK_EQ_INT(selector_get(s, 1)->op, SELECTOR_NOTEXISTS);
	CHECK_EQ_STR(selector_get(s, 1)->key, "legacy");
	selector_free(s);
	CHECK_EQ_INT(matches("gpu", gpu), 1);
	CHECK_EQ_INT(matches("gpu", none), 0);
	CHECK_EQ_INT(matches("!gpu", gpu), 0);
	CHECK_EQ_INT(matches("!gpu", none), 1);
	CHECK_EQ_INT(matches("in", none), 0);
}

static void numeric_operators_parse_their_number(void)
{
	static const struct {
		const char *text;
		enum selector_op op;
		double n;
	} cases[] = {
		{"age_days>365", SELECTOR_GT, 365},
		{"age_days<365", SELECTOR_LT, 365},
		{"age_days>=-1.5", SELECTOR_GE, -1.5},
		{"age_days<=0.25", SELECTOR_LE, 0.25},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct selector *s = parse_ok(cases[i].text);
		const struct selector_req *r = selector_get(s, 0);
		CHECK_EQ_STR(r->key, "age_days");
		CHECK_EQ_INT(r->op, cases[i].op);
		CHECK_EQ_INT(r->nvalues, 0);
		CHECK_NEAR(r->number, cases[i].n, 0);
		selector_free(s);
	}
}

static void numeric_operators_compare_at_the_boundary(void)
{
	static const char *d364[] = {"age_days", "364", NULL};
	static const char *d365[] = {"age_days", "365", NULL};
	static const char *d366[] = {"age_days", "366", NULL};

	CHECK_EQ_INT(matches("age_days>365", d365), 0);
	CHECK_EQ_INT(matches("age_days>365", d366), 1);
	CHECK_EQ_INT(matches("age_days>=365", d365), 1);
	CHECK_EQ_INT(matches("age_days>=365", d364), 0);
	CHECK_EQ_INT(matches("age_days<365", d365), 0);
	CHECK_EQ_INT(matches("age_days<365", d364), 1);
	CHECK_EQ_INT(matches("age_days<=365", d365), 1);
	CHECK_EQ_INT(matches("age_days<=365", d366), 0);
}

static void numeric_handles_negative_and_fractional(void)
{
	static const char *m1[] = {"t", "-1", NULL};
	static const char *m2[] = {"t", "-2", NULL};
	static const char *f[] = {"t", "0.2", NULL};

	CHECK_EQ_INT(matches("t>-1.5", m1), 1);
	CHECK_EQ_INT(matches("t>-1.5", m2), 0);
	CHECK_EQ_INT(matches("t<0.25", f), 1);
	CHECK_EQ_INT(matches("t<0.15", f), 0);
}

static void numeric_needs_present_label_that_is_all_number(void)
{
	static const char *none[] = {NULL};
	static const char *word[] = {"n", "abc", NULL};
	static const char *tail[] = {"n", "5x", NULL};
	static const char *empty[] = {"n", "", NULL};
	static const char *space[] = {"n", " 7", NULL};
	static const char *nan[] = {"n", "nan", NULL};
	static const char *expo[] = {"n", "1e3", NULL};

	CHECK_EQ_INT(matches("n>5", none), 0);
	CHECK_EQ_INT(matches("n<5", none), 0);
	CHECK_EQ_INT(matches("n>5", word), 0);
	CHECK_EQ_INT(matches("n<5", word), 0);
	CHECK_EQ_INT(matches("n<9", tail), 0);
	CHECK_EQ_INT(matches("n<9", empty), 0);
	CHECK_EQ_INT(matches("n<9", space), 0);
	CHECK_EQ_INT(matches("n<9", nan), 0);
	CHECK_EQ_INT(matches("n>=9", nan), 0);
	/* strtod reads the label, so an exponent there counts */
	CHECK_EQ_INT(matches("n>999", expo), 1);
}

static void whitespace_around_every_token(void)
{
	struct selector *s =
		parse_ok("  site = wh-3 ,\tage_days >= 365 , ! gone , tier in ( a , b ) , x != y ");

	CHECK_EQ_INT(selector_count(s), 5);
	CHECK_EQ_INT(selector_get(s, 0)->op, SELECTOR_EQ);
	CHECK_EQ_STR(selector_get(s, 0)->values[0], "wh-3");
	CHECK_EQ_INT(selector_get(s, 1)->op, SELECTOR_GE);
	CHECK_NEAR(selector_get(s, 1)->number, 365, 0);
	CHECK_EQ_INT(selector_get(s, 2)->op, SELECTOR_NOTEXISTS);
	CHECK_EQ_STR(selector_get(s, 2)->key, "gone");
	CHECK_EQ_INT(selector_get(s, 3)->op, SELECTOR_IN);
	CHECK_EQ_INT(selector_get(s, 3)->nvalues, 2);
	CHECK_EQ_INT(selector_get(s, 4)->op, SELECTOR_NE);
	CHECK_EQ_STR(selector_get(s, 4)->values[0], "y");
	selector_free(s);
}

static void comma_means_and(void)
{
	static const char *both[] = {"a", "1", "b", "2", NULL};
	static const char *one[] = {"a", "1", "b", "3", NULL};

	CHECK_EQ_INT(matches("a=1,b=2", both), 1);
	CHECK_EQ_INT(matches("a=1,b=2", one), 0);
	CHECK_EQ_INT(matches("a=1,b>1", one), 1);
	CHECK_EQ_INT(matches("a=1,b>1,!c", one), 1);
	CHECK_EQ_INT(matches("a=1,b>1,c", one), 0);
}

static void prefixed_keys_and_colon_values_parse(void)
{
	static const char *dev[] = {"example.com/device", "dev:01", NULL};

	CHECK_EQ_INT(matches("example.com/device=dev:01", dev), 1);
	CHECK_EQ_INT(matches("example.com/device in (dev:02, dev:01)", dev), 1);
	CHECK_EQ_INT(matches("ver=2026.01.10-rc1", dev), 0);
	CHECK_EQ_INT(matches("a-b.c-d/x_y.Z-1=v", dev), 0);
}

static void malformed_selectors_name_what_and_where(void)
{
	check_rejects("=v", "expected label key at offset 0");
	check_rejects(",", "expected label key at offset 0");
	check_rejects("k,", "expected label key at offset 2");
	check_rejects("k,,j", "expected label key at offset 2");
	check_rejects("!", "expected label key at offset 1");
	check_rejects("!!k", "expected label key at offset 1");
	check_rejects("(a)", "expected label key at offset 0");
	check_rejects("k in (a,b", "expected \",\" or \")\" at offset 9");
	check_rejects("k in (a b)", "expected \",\" or \")\" at offset 8");
	check_rejects("k in (a,=)", "expected \",\" or \")\" at offset 8");
	check_rejects("k in ()", "empty value set at offset 6");
	check_rejects("k in ( )", "empty value set at offset 7");
	check_rejects("k in", "expected \"(\" at offset 4");
	check_rejects("k notin a", "expected \"(\" at offset 8");
	check_rejects("k in a,b", "expected \"(\" at offset 5");
	check_rejects("k>abc", "invalid number \"abc\" at offset 2");
	check_rejects("k>", "expected number at offset 2");
	check_rejects("k>=(1)", "expected number at offset 3");
	check_rejects("k v", "expected operator or \",\" at offset 2");
	check_rejects("k!v", "expected operator or \",\" at offset 1");
	check_rejects("k=v w", "expected \",\" or end of selector at offset 4");
	check_rejects("k=a=b", "expected \",\" or end of selector at offset 3");
	check_rejects("!k=v", "expected \",\" or end of selector at offset 2");
	check_rejects("k in (a,b))", "expected \",\" or end of selector at offset 10");
	check_rejects("k=>1", "expected label value at offset 2");
	check_rejects("k===v", "expected label value at offset 3");
	check_rejects("k=$", "invalid label value \"$\" at offset 2");
	check_rejects("k in (a,b c)", NULL);
}

static void malformed_numbers_are_rejected(void)
{
	check_rejects("k>1.5.2", "invalid number \"1.5.2\" at offset 2");
	check_rejects("k>1e3", "invalid number \"1e3\" at offset 2");
	check_rejects("k>.5", "invalid number \".5\" at offset 2");
	check_rejects("k>5.", "invalid number \"5.\" at offset 2");
	check_rejects("k>+5", "invalid number \"+5\" at offset 2");
	check_rejects("k<-", "invalid number \"-\" at offset 2");
	check_rejects("k<=0x10", "invalid number \"0x10\" at offset 3");
}

static void keys_with_bad_characters_are_rejected(void)
{
	check_rejects("9$x", "invalid label key \"9$x\" at offset 0");
	check_rejects("a,-k=v", "invalid label key \"-k\" at offset 2");
	check_rejects("k-=v", "invalid label key \"k-\" at offset 0");
	check_rejects("k. in (a)", "invalid label key \"k.\" at offset 0");
	check_rejects("a:b", "invalid label key \"a:b\" at offset 0");
	check_rejects("/x=1", "invalid label key \"/x\" at offset 0");
	check_rejects("a/b/c", "invalid label key \"a/b/c\" at offset 0");
	check_rejects("Example.com/x", "invalid label key \"Example.com/x\" at offset 0");
	check_rejects("-a.com/x", "invalid label key \"-a.com/x\" at offset 0");
	check_rejects("a..com/x", "invalid label key \"a..com/x\" at offset 0");
	check_rejects("a.com/", "invalid label key \"a.com/\" at offset 0");
	check_rejects("k\xc3\xa9=1", "invalid label key \"k\\xc3\\xa9\" at offset 0");
	check_rejects("k\"=1", "invalid label key \"k\\x22\" at offset 0");
}

static void overlong_keys_and_values_are_rejected(void)
{
	char text[400];
	char *name63 = repeat('n', 63), *name64 = repeat('n', 64);
	char *l63 = repeat('p', 63), *v63 = repeat('v', 63), *v64 = repeat('v', 64);

	snprintf(text, sizeof(text), "%s=1", name63);
	selector_free(parse_ok(text));
	snprintf(text, sizeof(text), "%s=1", name64);
	check_rejects(text, NULL);
	/* 63+1+63+1+63 = 191-byte prefix, "/", 61-byte name: 253 in all */
	snprintf(text, sizeof(text), "%s.%s.%s/%.61s", l63, l63, l63, name63);
	selector_free(parse_ok(text));
	snprintf(text, sizeof(text), "%s.%s.%s/%.62s", l63, l63, l63, name63);
	check_rejects(text, "label key longer than 253 characters: "
			    "\"pppppppppppppppppppppppppppppppp...\" at offset 0");
	snprintf(text, sizeof(text), "k=%s", v63);
	selector_free(parse_ok(text));
	snprintf(text, sizeof(text), "k in (a,%s)", v64);
	check_rejects(text, "label value longer than 63 characters: "
			    "\"vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv...\" at offset 8");
	free(name63), free(name64), free(l63), free(v63), free(v64);
}

static void requirement_limit_is_64(void)
{
	char text[200];
	size_t n = 0;

	for (int i = 0; i < 64; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%sa", i ? "," : "");
	{
		struct selector *s = parse_ok(text);
		CHECK_EQ_INT(selector_count(s), 64);
		selector_free(s);
	}
	/* the 65th "a" starts at 64 * 2 = 128 */
	snprintf(text + n, sizeof(text) - n, ",a");
	check_rejects(text, "too many requirements (at most 64) at offset 128");
}

static void set_value_limit_is_64(void)
{
	char text[200];
	size_t n = (size_t)snprintf(text, sizeof(text), "k in (");

	for (int i = 0; i < 64; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%sa", i ? "," : "");
	snprintf(text + n, sizeof(text) - n, ")");
	selector_free(parse_ok(text));
	/* the 65th item starts at 6 + 64 * 2 = 134 */
	snprintf(text + n, sizeof(text) - n, ",a)");
	check_rejects(text, "too many values in set (at most 64) at offset 134");
	/* 64 commas make 65 empty items; the 65th is the ")" at 6 + 64 */
	n = (size_t)snprintf(text, sizeof(text), "k in (");
	for (int i = 0; i < 64; i++)
		text[n++] = ',';
	snprintf(text + n, sizeof(text) - n, ")");
	check_rejects(text, "too many values in set (at most 64) at offset 70");
}

static void text_limit_is_4096_bytes(void)
{
	char *text = repeat(' ', 4097);

	text[4095] = 'a';
	text[4096] = '\0';
	selector_free(parse_ok(text));
	text[4096] = ' ';
	check_rejects(text, "selector is longer than 4096 bytes");
	free(text);
}

static void format_gives_canonical_text_that_round_trips(void)
{
	const char *in = "  site == wh-3 , tier in ( b , a , b ) , ! gone , age >= 365 ,"
			 " x != y , k notin ( , ) , n<-1.50 , e= , gpu, q in (a,)";
	const char *want = "site=wh-3,tier in(b,a),!gone,age>=365,x!=y,"
			   "k notin(,),n<-1.50,e=,gpu,q in(a,)";
	struct selector *s = parse_ok(in), *t;
	char buf[256], again[256];

	CHECK_EQ_INT(selector_format(s, buf, sizeof(buf)), strlen(want));
	CHECK_EQ_STR(buf, want);
	t = parse_ok(buf);
	CHECK_EQ_INT(selector_count(t), selector_count(s));
	for (size_t i = 0; i < selector_count(s); i++) {
		const struct selector_req *a = selector_get(s, i), *b = selector_get(t, i);
		CHECK_EQ_STR(a->key, b->key);
		CHECK_EQ_INT(a->op, b->op);
		CHECK_EQ_INT(a->nvalues, b->nvalues);
		for (size_t k = 0; k < a->nvalues && k < b->nvalues; k++)
			CHECK_EQ_STR(a->values[k], b->values[k]);
		CHECK_NEAR(a->number, b->number, 0);
	}
	selector_format(t, again, sizeof(again));
	CHECK_EQ_STR(again, buf);
	selector_free(s);
	selector_free(t);
}

static void format_truncates_like_snprintf(void)
{
	struct selector *s = parse_ok("site=wh-3");
	char buf[5];

	CHECK_EQ_INT(selector_format(s, buf, sizeof(buf)), 9);
	CHECK_EQ_STR(buf, "site");
	CHECK_EQ_INT(selector_format(s, NULL, 0), 9);
	selector_free(s);
	s = parse_ok("");
	CHECK_EQ_INT(selector_format(s, buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "");
	selector_free(s);
	selector_free(NULL);
}

static void label_validators_use_selector_rules(void)
{
	CHECK(selector_label_key_valid("platform"));
	CHECK(selector_label_key_valid("example.com/tier"));
	CHECK(selector_label_key_valid("A1_b.c-D"));
	CHECK(!selector_label_key_valid(""));
	CHECK(!selector_label_key_valid("_x"));
	CHECK(!selector_label_key_valid("a b"));
	CHECK(!selector_label_key_valid("a=b"));
	CHECK(!selector_label_key_valid(NULL));
	CHECK(selector_label_value_valid(""));
	CHECK(selector_label_value_valid("-lenient-"));
	CHECK(selector_label_value_valid("2026.01.10-rc1"));
	CHECK(selector_label_value_valid("dev:01"));
	CHECK(!selector_label_value_valid("a b"));
	CHECK(!selector_label_value_valid("a,b"));
	CHECK(!selector_label_value_valid("a/b"));
	CHECK(!selector_label_value_valid(NULL));
	{
		char *v63 = repeat('v', 63), *v64 = repeat('v', 64);
		CHECK(selector_label_value_valid(v63));
		CHECK(!selector_label_value_valid(v64));
		free(v63), free(v64);
	}
}

static const struct unit_case cases[] = {
	UNIT(empty_and_blank_selectors_match_everything),
	UNIT(equality_parses_key_op_and_one_value),
	UNIT(equality_needs_label_present_and_equal),
	UNIT(empty_value_equality_matches_only_empty_label),
	UNIT(inequality_matches_absent_or_different_label),
	UNIT(in_set_keeps_values_in_order_without_duplicates),
	UNIT(in_matches_members_of_present_label),
	UNIT(notin_matches_absent_or_nonmember_label),
	UNIT(set_with_spaces_inside_parentheses),
	UNIT(set_empty_members_follow_kubernetes),
	UNIT(exists_and_not_exists_test_presence_only),
	UNIT(numeric_operators_parse_their_number),
	UNIT(numeric_operators_compare_at_the_boundary),
	UNIT(numeric_handles_negative_and_fractional),
	UNIT(numeric_needs_present_label_that_is_all_number),
	UNIT(whitespace_around_every_token),
	UNIT(comma_means_and),
	UNIT(prefixed_keys_and_colon_values_parse),
	UNIT(malformed_selectors_name_what_and_where),
	UNIT(malformed_numbers_are_rejected),
	UNIT(keys_with_bad_characters_are_rejected),
	UNIT(overlong_keys_and_values_are_rejected),
	UNIT(requirement_limit_is_64),
	UNIT(set_value_limit_is_64),
	UNIT(text_limit_is_4096_bytes),
	UNIT(format_gives_canonical_text_that_round_trips),
	UNIT(format_truncates_like_snprintf),
	UNIT(label_validators_use_selector_rules),
	{0},
};
UNIT_MAIN(cases)
