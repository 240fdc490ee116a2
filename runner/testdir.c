/*
 * testdir.c - the ONNX backend test-directory runner behind `ramp-runner test
 * DIR` and the conformance test.
 *
 * input_K.pb feeds the K-th graph input that is not an initializer.  Int64
 * inputs (shapes, in Reshape's tests) are pinned as constants at load, since
 * the runner plans memory from shapes known at load.
 */
#include "testdir.h"
#include "onnx_pb.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TD_MAX_IO 16

static unsigned char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	if (!f)
		return NULL;
	unsigned char *buf = NULL;
	if (fstat(fileno(f), &st) == 0 && st.st_size >= 0 && (buf = malloc((size_t)st.st_size + 1))) {
		*len = fread(buf, 1, (size_t)st.st_size, f);
		if (*len != (size_t)st.st_size) {
			free(buf);
			buf = NULL;
		}
	}
	fclose(f);
	return buf;
}

static Onnx__ModelProto *read_model(const char *dir)
{
	char path[4096];
	size_t len;
	snprintf(path, sizeof(path), "%s/model.onnx", dir);
	unsigned char *buf = read_all(path, &len);
	if (!buf)
		return NULL;
	Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, buf);
	free(buf);
	return mp;
}

static bool op_known(const char *op)
{
	for (const char *const *o = runner_ops(); *o; o++)
		if (strcmp(*o, op) == 0)
			return true;
	return false;
}

int testdir_claimed(const char *dir, char *buf, size_t len)
{
	Onnx__ModelProto *mp = read_model(dir);
	if (!mp || !mp->graph) {
		if (mp)
			onnx__model_proto__free_unpacked(mp, NULL);
		return RUNNER_EIO;
	}
	int all = 1, nops = 0;
	const char *ops[64];
	size_t used = 0;
	buf[0] = 0;
	for (size_t i = 0; i < mp->graph->n_node; i++) {
		const Onnx__NodeProto *n = mp->graph->node[i];
		bool dflt = !n->domain || !*n->domain || strcmp(n->domain, "ai.onnx") == 0;
		all &= dflt && op_known(n->op_type);
		int seen = 0;
		for (int j = 0; j < nops; j++)
			seen |= strcmp(ops[j], n->op_type) == 0;
		if (seen || nops == 64)
			continue;
		ops[nops++] = n->op_type;
		if (used < len)
			used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? "," : "", n->op_type);
	}
	onnx__model_proto__free_unpacked(mp, NULL);
	return all;
}

struct td_set {
	struct runner_tensor in[TD_MAX_IO], out[TD_MAX_IO];
	int nin, nout;
};

static void set_free(struct td_set *s)
{
	for (int i = 0; i < s->nin; i++)
		free(s->in[i].data);
	for (int i = 0; i < s->nout; i++)
		free(s->out[i].data);
}

/* Loads prefix_K.pb for K = 0.. into ts; returns the count or a negative code. */
static int load_pbs(const char *set, const char *prefix, struct runner_tensor *ts, int *n,
		    struct runner_err *err)
{
	for (*n = 0; *n < TD_MAX_IO; (*n)++) {
		char path[4200];
		size_t len;
		snprintf(path, sizeof(path), "%s/%s_%d.pb", set, prefix, *n);
		unsigned char *buf = read_all(path, &len);
		if (!buf)
			return 0;
		int rc = runner_tensor_parse(buf, len, &ts[*n], NULL, err);
		free(buf);
		if (rc)
			return rc;
	}
	return 0;
}

static bool close_enough(const struct runner_tensor *got, const struct runner_tensor *exp, size_t *at)
{
	size_t n = runner_numel(exp);
	for (size_t i = 0; i < n; i++) {
		*at = i;
		if (exp->dtype == RUNNER_FLOAT) {
			float g = ((const float *)got->data)[i], e = ((const float *)exp->data)[i];
			if (isnan(e) ? !isnan(g) : !(fabsf(g - e) <= 1e-7f + 1e-3f * fabsf(e)))
				return false;
		} else {
			size_t es = runner_dtype_size(exp->dtype);
			if (memcmp((const char *)got->data + i * es, (const char *)exp->data + i * es, es))
				return false;
		}
	}
	return true;
}

/* Compares output k; fills why and returns false on a mismatch. */
static bool compare(int k, const struct runner_tensor *got, const struct runner_tensor *exp,
		    char *why, size_t whylen)
{
	size_t at = 0;
	if (got->dtype != exp->dtype || got->ndim != exp->ndim ||
	    memcmp(got->dims, exp->dims, sizeof(int64_t) * (size_t)exp->ndim)) {
		snprintf(why, whylen, "output %d: type or shape differs", k);
		return false;
	}
	if (!close_enough(got, exp, &at)) {
		double g = got->dtype == RUNNER_FLOAT ? ((const float *)got->data)[at] : 0;
		double e = exp->dtype == RUNNER_FLOAT ? ((const float *)exp->data)[at] : 0;
		snprintf(why, whylen, "output %d: element %zu differs (%g vs expected %g)", k, at, g, e);
		return false;
	}
	return true;
}

/* Runs one data set against mp's graph inputs; 0, 1 or a negative code. */
static int run_set(const char *dir, const Onnx__GraphProto *g, struct td_set *s, char *why,
		   size_t whylen)
{
	struct runner_fixed fixed[TD_MAX_IO];
	struct runner_tensor feed[TD_MAX_IO], got[TD_MAX_IO];
	struct runner_err err = {0};
	int nfixed = 0, nfeed = 0, k = 0, rc = 0;
	for (size_t i = 0; i < g->n_input && k < s->nin; i++) {
		bool init = false;
		for (size_t j = 0; j < g->n_initializer; j++)
			init |= strcmp(g->initializer[j]->name, g->input[i]->name) == 0;
		if (init)
			continue;
		if (s->in[k].dtype == RUNNER_INT64)
			fixed[nfixed++] = (struct runner_fixed){g->input[i]->name, &s->in[k]};
		else
			feed[nfeed++] = s->in[k];
		k++;
	}
	char path[4096];
	snprintf(path, sizeof(path), "%s/model.onnx", dir);
	struct runner_model *m = runner_model_load_file(path, fixed, (size_t)nfixed, &err);
	struct runner_ctx *c = m ? runner_ctx_new(m) : NULL;
	if (!c) {
		snprintf(why, whylen, "%s", m ? "out of memory" : err.msg);
		runner_model_free(m);
		return m ? RUNNER_ENOMEM : err.code;
	}
	if (runner_run(c, feed, (size_t)nfeed, got, TD_MAX_IO, &err)) {
		snprintf(why, whylen, "%s", err.msg);
		rc = RUNNER_EINVAL;
	} else if ((int)runner_model_noutputs(m) != s->nout) {
		snprintf(why, whylen, "model has %zu outputs, data set %d", runner_model_noutputs(m), s->nout);
		rc = 1;
	}
	for (int i = 0; rc == 0 && i < s->nout; i++)
		rc = compare(i, &got[i], &s->out[i], why, whylen) ? 0 : 1;
	runner_ctx_free(c);
	runner_model_free(m);
	return rc;
}

int testdir_run(const char *dir, char *why, size_t whylen)
{
	Onnx__ModelProto *mp = read_model(dir);
	int rc = 0, sets = 0;
	if (!mp || !mp->graph) {
		snprintf(why, whylen, "cannot read %s/model.onnx", dir);
		if (mp)
			onnx__model_proto__free_unpacked(mp, NULL);
		return RUNNER_EIO;
	}
	for (int n = 0; rc == 0; n++, sets++) {
		char set[4096];
		struct stat st;
		struct td_set s = {0};
		struct runner_err err = {0};
		snprintf(set, sizeof(set), "%s/test_data_set_%d", dir, n);
		if (stat(set, &st) != 0)
			break;
		rc = load_pbs(set, "input", s.in, &s.nin, &err);
		if (rc == 0)
			rc = load_pbs(set, "output", s.out, &s.nout, &err);
		if (rc)
			snprintf(why, whylen, "data set %d: %s", n, err.msg);
		else
			rc = run_set(dir, mp->graph, &s, why, whylen);
		set_free(&s);
	}
	if (rc == 0 && sets == 0) {
		snprintf(why, whylen, "no test_data_set_0 in %s", dir);
		rc = RUNNER_EIO;
	}
	onnx__model_proto__free_unpacked(mp, NULL);
	return rc;
}
