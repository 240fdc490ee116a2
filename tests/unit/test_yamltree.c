/* test_yamltree.c - YAML/JSON text to a jansson tree, and plain scalar typing. */
#include "domain/yamltree.h"
#include "common/err.h"
#include "unit.h"

static json_t *resolved(const struct yamltree *t, const char *key)
{
	return yamltree_resolve(t, json_object_get(t->root, key));
}

static void plain_scalars_resolve_by_core_schema(void)
{
	const char *text = "i: 42\nneg: -7\nbig: 99999999999999999999\nf: 2.5e3\n"
			   "inf: .inf\nt: True\nn: ~\ne:\ns: hello\nv: 1.10\n";
	struct yamltree t;
	struct ramp_err e;
	json_t *v;

	CHECK_EQ_INT(yamltree_parse(text, strlen(text), &t, &e), 0);
	v = resolved(&t, "i");
	CHECK(json_is_integer(v) && json_integer_value(v) == 42);
	json_decref(v);
	v = resolved(&t, "neg");
	CHECK(json_is_integer(v) && json_integer_value(v) == -7);
	json_decref(v);
	v = resolved(&t, "big");
	CHECK_EQ_STR(json_string_value(v), "99999999999999999999");
	json_decref(v);
	v = resolved(&t, "f");
	CHECK(json_is_real(v) && json_real_value(v) == 2500.0);
	json_decref(v);
	v = resolved(&t, "inf");
	CHECK_EQ_STR(json_string_value(v), ".inf");
	json_decref(v);
	CHECK(json_is_true(resolved(&t, "t")));
	CHECK(json_is_null(resolved(&t, "n")));
	CHECK(json_is_null(resolved(&t, "e")));
	v = resolved(&t, "s");
	CHECK_EQ_STR(json_string_value(v), "hello");
	json_decref(v);
	/* unresolved, the tree keeps the text as written */
	CHECK_EQ_STR(json_string_value(json_object_get(t.root, "v")), "1.10");
	yamltree_free(&t);
	yamltree_free(NULL);
}

static void quoted_scalars_stay_strings(void)
{
	const char *text = "a: '42'\nb: \"true\"\nc: !!str 7\nd: 42\n";
	struct yamltree t;
	struct ramp_err e;
	json_t *v;

	CHECK_EQ_INT(yamltree_parse(text, strlen(text), &t, &e), 0);
	CHECK(!yamltree_is_plain(&t, json_object_get(t.root, "a")));
	CHECK(!yamltree_is_plain(&t, json_object_get(t.root, "c")));
	CHECK(yamltree_is_plain(&t, json_object_get(t.root, "d")));
	v = yamltree_resolve(&t, t.root);
	CHECK_EQ_STR(json_string_value(json_object_get(v, "a")), "42");
	CHECK_EQ_STR(json_string_value(json_object_get(v, "b")), "true");
	CHECK_EQ_STR(json_string_value(json_object_get(v, "c")), "7");
	CHECK_EQ_INT(json_integer_value(json_object_get(v, "d")), 42);
	json_decref(v);
	yamltree_free(&t);
}

static void leading_brace_means_json(void)
{
	const char *json = "\n\t {\"a\": \"1\", \"b\": 2}";
	struct yamltree t;
	struct ramp_err e;

	CHECK_EQ_INT(yamltree_parse(json, strlen(json), &t, &e), 0);
	CHECK_EQ_INT(t.nplain, 0);
	CHECK_EQ_INT(json_integer_value(json_object_get(t.root, "b")), 2);
	yamltree_free(&t);
	/* a YAML flow mapping is not JSON, so it fails as JSON */
	CHECK_EQ_INT(yamltree_parse("{a: 1}", 6, &t, &e), RAMP_EMALFORMED);
	CHECK(strncmp(e.msg, "json: ", 6) == 0);
	CHECK(t.root == NULL);
}

static void yaml_sequences_keep_order(void)
{
	const char *text = "- x\n- [1, 2]\n- {k: v}\n";
	struct yamltree t;
	struct ramp_err e;

	CHECK_EQ_INT(yamltree_parse(text, strlen(text), &t, &e), 0);
	CHECK_EQ_INT(json_array_size(t.root), 3);
	CHECK_EQ_STR(json_string_value(json_array_get(t.root, 0)), "x");
	CHECK_EQ_INT(json_array_size(json_array_get(t.root, 1)), 2);
	CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(t.root, 2), "k")), "v");
	yamltree_free(&t);
}

static void complex_keys_are_malformed(void)
{
	const char *text = "? [a, b]\n: c\n";
	struct yamltree t;
	struct ramp_err e;

	CHECK_EQ_INT(yamltree_parse(text, strlen(text), &t, &e), RAMP_EMALFORMED);
	CHECK_EQ_STR(e.msg, "yaml: mapping keys must be scalars at line 1");
}

static const struct unit_case cases[] = {
	UNIT(plain_scalars_resolve_by_core_schema),
	UNIT(quoted_scalars_stay_strings),
	UNIT(leading_brace_means_json),
	UNIT(yaml_sequences_keep_order),
	UNIT(complex_keys_are_malformed),
	{0},
};
UNIT_MAIN(cases)
