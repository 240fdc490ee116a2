/*
 * test_runner_conformance.c - ONNX's own backend node tests (Debian's
 * libonnx-testdata) through ramp-runner.
 *
 * Every test whose operators the runner all claims is run, except the
 * variants listed in excluded[] (each also listed in docs/runner.md, with
 * the reason).  Prints "ok NAME" / "FAIL NAME: why" per test and
 * "N passed, N failed" last.  No testdata (or none that runs) is a failure,
 * not a quiet "0 passed": the build installs libonnx-testdata.
 * RUNNER_ONNX_TESTDATA overrides the data directory.
 */
#include "runner.h"
#include "testdir.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ONNX_TESTDATA "/usr/share/libonnx-testdata/data"

static const struct {
	const char *test, *why;
} excluded[] = {
	{"test_add_uint8", "Add on uint8 (float32 only)"},
	{"test_sub_uint8", "Sub on uint8 (float32 only)"},
	{"test_mul_uint8", "Mul on uint8 (float32 only)"},
	{"test_div_uint8", "Div on uint8 (float32 only)"},
	{"test_clip_default_int8_inbounds", "Clip on int8 (float32 only)"},
	{"test_clip_default_int8_max", "Clip on int8 (float32 only)"},
	{"test_clip_default_int8_min", "Clip on int8 (float32 only)"},
	{"test_maxpool_2d_uint8", "MaxPool on uint8 (float32 only)"},
	{"test_maxpool_with_argmax_2d_precomputed_pads", "MaxPool's Indices output"},
	{"test_maxpool_with_argmax_2d_precomputed_strides", "MaxPool's Indices output"},
	{"test_batchnorm_epsilon_training_mode", "BatchNormalization training mode"},
	{"test_batchnorm_example_training_mode", "BatchNormalization training mode"},
	{"test_identity_opt", "optional-typed values"},
	{"test_identity_sequence", "sequence-typed values"},
	{"pytorch-operator/test_operator_add_broadcast", "Add on float64 (float32 only)"},
	{"pytorch-operator/test_operator_add_size1_broadcast", "Add on float64 (float32 only)"},
	{"pytorch-operator/test_operator_add_size1_right_broadcast", "Add on float64 (float32 only)"},
	{"pytorch-operator/test_operator_add_size1_singleton_broadcast", "Add on float64 (float32 only)"},
	{"pytorch-operator/test_operator_addconstant", "Add on float64 (float32 only)"},
	{"pytorch-operator/test_operator_non_float_params", "Add and Mul on int64 (float32 only)"},
};

/* The suites run: ONNX's node tests, then the PyTorch-exported ones and the
 * small hand-built models (names of these prefixed with their suite). */
static const char *const suites[] = {"node", "pytorch-converted", "pytorch-operator", "simple"};

static const char *excluded_why(const char *name)
{
	for (size_t i = 0; i < sizeof(excluded) / sizeof(excluded[0]); i++)
		if (strcmp(excluded[i].test, name) == 0)
			return excluded[i].why;
	return NULL;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct tally {
	int pass, fail, skipped, unclaimed;
};

/* Runs the tests of one suite directory; false when it cannot be listed. */
static bool run_suite(const char *root, const char *suite, struct tally *t)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", root, suite);
	DIR *d = opendir(path);
	if (!d)
		return false;
	char **names = NULL;
	size_t n = 0, cap = 0;
	for (struct dirent *e; (e = readdir(d));) {
		if (strncmp(e->d_name, "test_", 5) != 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			char **nn = realloc(names, cap * sizeof(*names));
			if (!nn)
				abort();
			names = nn;
		}
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_name);
	for (size_t i = 0; i < n; i++) {
		char dir[4400], name[512], ops[512], why[512] = "";
		snprintf(dir, sizeof(dir), "%s/%s", path, names[i]);
		snprintf(name, sizeof(name), "%s%s%s", strcmp(suite, "node") ? suite : "",
			 strcmp(suite, "node") ? "/" : "", names[i]);
		if (testdir_claimed(dir, ops, sizeof(ops)) != 1) {
			t->unclaimed++;
		} else if (excluded_why(name)) {
			printf("skip %s [%s]: %s\n", name, ops, excluded_why(name));
			t->skipped++;
		} else if (testdir_run(dir, why, sizeof(why)) == 0) {
			printf("ok %s [%s]\n", name, ops);
			t->pass++;
		} else {
			printf("FAIL %s [%s]: %s\n", name, ops, why);
			t->fail++;
		}
		free(names[i]);
	}
	free(names);
	return true;
}

int main(void)
{
	const char *root = getenv("RUNNER_ONNX_TESTDATA");
	struct tally t = {0};
	int suites_found = 0;
	root = root ? root : ONNX_TESTDATA;
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		suites_found += run_suite(root, suites[i], &t);
	if (!suites_found)
		printf("# no ONNX backend tests at %s (install libonnx-testdata)\n", root);
	printf("# %d excluded variants (docs/runner.md), %d tests use operators the runner does not claim\n",
	       t.skipped, t.unclaimed);
	if (!t.pass && !t.fail)
		printf("FAIL conformance: no ONNX backend test ran (is libonnx-testdata at %s?)\n",
		       root);
	printf("%d passed, %d failed\n", t.pass, t.fail);
	return t.fail || !t.pass ? 1 : 0;
}
