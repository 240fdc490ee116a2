/*
 * ops_elem.c - element-wise kernels: Add/Sub/Mul/Div with numpy broadcasting,
 * Relu, LeakyRelu, Sigmoid, Tanh, Clip, Softmax and BatchNormalization
 * (inference form), all on float32.
 *
 * Broadcasting is planned at load: adjacent axes with the same broadcast
 * pattern are merged, so the common cases (same shape, a bias along the last
 * axis, a scalar) run as one flat loop with unit or zero strides that GCC
 * vectorizes.
 */
#include "ops.h"

#include <math.h>
#include <string.h>

enum { BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV };

struct bin_params {
	int kind;
	int ndim;		    /* after merging axes */
	int64_t dims[RUNNER_MAX_DIMS];
	int64_t sa[RUNNER_MAX_DIMS]; /* element strides, 0 where broadcast */
	int64_t sb[RUNNER_MAX_DIMS];
};

/* The innermost loop for one stride pattern; the switch sits outside the loop. */
#define BIN_LOOP(EXPR)                                                                             \
	do {                                                                                       \
		if (sa && sb)                                                                      \
			for (int64_t j = 0; j < n; j++) {                                          \
				float x = a[j], y = b[j];                                          \
				o[j] = EXPR;                                                       \
			}                                                                          \
		else if (sa)                                                                       \
			for (int64_t j = 0; j < n; j++) {                                          \
				float x = a[j], y = b[0];                                          \
				o[j] = EXPR;                                                       \
			}                                                                          \
		else if (sb)                                                                       \
			for (int64_t j = 0; j < n; j++) {                                          \
				float x = a[0], y = b[j];                                          \
				o[j] = EXPR;                                                       \
			}                                                                          \
		else                                                                               \
			for (int64_t j = 0; j < n; j++) {                                          \
				float x = a[0], y = b[0];                                          \
				o[j] = EXPR;                                                       \
			}                                                                          \
	} while (0)

static void bin_row(int kind, float *restrict o, const float *restrict a, const float *restrict b,
		    int64_t n, int64_t sa, int64_t sb)
{
	switch (kind) {
	case BIN_ADD: BIN_LOOP(x + y); break;
	case BIN_SUB: BIN_LOOP(x - y); break;
	case BIN_MUL: BIN_LOOP(x * y); break;
	default: BIN_LOOP(x / y); break;
	}
}

static void bin_run(const struct rnode *nd, const struct runner_tensor *in, struct runner_tensor *out,
		    void *scratch)
{
	const struct bin_params *p = (const void *)nd->params;
	const float *a = in[0].data, *b = in[1].data;
	float *o = out[0].data;
	int last = p->ndim - 1;
	int64_t idx[RUNNER_MAX_DIMS] = {0}, n = p->dims[last], rows = 1;
	for (int d = 0; d < last; d++)
		rows *= p->dims[d];
	if (n == 0)
		return;
	for (int64_t r = 0; r < rows; r++) {
		int64_t oa = 0, ob = 0;
		for (int d = 0; d < last; d++) {
			oa += idx[d] * p->sa[d];
			ob += idx[d] * p->sb[d];
		}
		bin_row(p->kind, o + r * n, a + oa, b + ob, n, p->sa[last], p->sb[last]);
		for (int d = last - 1; d >= 0 && ++idx[d] == p->dims[d]; d--)
			idx[d] = 0;
	}
}

/* Merges axes of the broadcast pattern and computes element strides. */
static void bin_plan(struct bin_params *p, int n, const int64_t *od, const struct rval *a,
		     const struct rval *b)
{
	int fa[RUNNER_MAX_DIMS], fb[RUNNER_MAX_DIMS], m = 0;
	for (int i = 0; i < n; i++) {
		int ia = i - (n - a->ndim), ib = i - (n - b->ndim);
		int pa = ia >= 0 && a->dims[ia] == od[i], pb = ib >= 0 && b->dims[ib] == od[i];
		if (od[i] == 1)
			continue; /* size-1 axes carry no pattern */
		if (m > 0 && fa[m - 1] == pa && fb[m - 1] == pb) {
			p->dims[m - 1] *= od[i];
			continue;
		}
		fa[m] = pa;
		fb[m] = pb;
		p->dims[m++] = od[i];
	}
	if (m == 0) {
		fa[0] = fb[0] = 1;
		p->dims[m++] = 1;
	}
	int64_t ka = 1, kb = 1;
	for (int i = m - 1; i >= 0; i--) {
		p->sa[i] = fa[i] ? ka : 0;
		p->sb[i] = fb[i] ? kb : 0;
		ka *= fa[i] ? p->dims[i] : 1;
		kb *= fb[i] ? p->dims[i] : 1;
	}
	p->ndim = m;
}

static int bin_prep(struct rprep *pp, int kind)
{
	struct bin_params *p = (void *)pp->node->params;
	int rc, n;
	int64_t od[RUNNER_MAX_DIMS];
	if ((rc = prep_need(pp, 0, RUNNER_FLOAT)) || (rc = prep_need(pp, 1, RUNNER_FLOAT)))
		return rc;
	if ((rc = prep_broadcast(pp, pp->in[0], pp->in[1], &n, od)))
		return rc;
	p->kind = kind;
	bin_plan(p, n, od, pp->in[0], pp->in[1]);
	rval_set(pp->out[0], RUNNER_FLOAT, n, od);
	return 0;
}

static int add_prep(struct rprep *p) { return bin_prep(p, BIN_ADD); }
static int sub_prep(struct rprep *p) { return bin_prep(p, BIN_SUB); }
static int mul_prep(struct rprep *p) { return bin_prep(p, BIN_MUL); }
static int div_prep(struct rprep *p) { return bin_prep(p, BIN_DIV); }

struct unary_params {
	float alpha;
	int clip_inputs; /* Clip: min/max come from inputs 1 and 2 */
	float lo, hi;
};

static int unary_prep(struct rprep *pp)
{
	struct unary_params *p = (void *)pp->node->params;
	int rc = prep_need(pp, 0, RUNNER_FLOAT);
	if (rc)
		return rc;
	p->alpha = attr_float(pp, "alpha", 0.01f);
	rval_set(pp->out[0], RUNNER_FLOAT, pp->in[0]->ndim, pp->in[0]->dims);
	return 0;
}

static void relu_run(const struct rnode *nd, const struct runner_tensor *in,
		     struct runner_tensor *out, void *scratch)
{
	const float *restrict x = in[0].data;
	float *restrict y = out[0].data;
	size_t n = runner_numel(&in[0]);
	for (size_t i = 0; i < n; i++)
		y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

static void leakyrelu_run(const struct rnode *nd, const struct runner_tensor *in,
			  struct runner_tensor *out, void *scratch)
{
	const struct unary_params *p = (const void *)nd->params;
	const float *restrict x = in[0].data;
	float *restrict y = out[0].data;
	float a = p->alpha;
	size_t n = runner_numel(&in[0]);
	for (size_t i = 0; i < n; i++)
		y[i] = x[i] >= 0.0f ? x[i] : x[i] * a;
}

static void sigmoid_run(const struct rnode *nd, const struct runner_tensor *in,
			struct runner_tensor *out, void *scratch)
{
	const float *restrict x = in[0].data;
	float *restrict y = out[0].data;
	size_t n = runner_numel(&in[0]);
	for (size_t i = 0; i < n; i++)
		y[i] = 1.0f / (1.0f + expf(-x[i]));
}

static void tanh_run(const struct rnode *nd, const struct runner_tensor *in,
		     struct runner_tensor *out, void *scratch)
{
	const float *restrict x = in[0].data;
	float *restrict y = out[0].data;
	size_t n = runner_numel(&in[0]);
	for (size_t i = 0; i < n; i++)
		y[i] = tanhf(x[i]);
}

static int clip_prep(struct rprep *pp)
{
	struct unary_params *p = (void *)pp->node->params;
	int rc = unary_prep(pp);
	if (rc)
		return rc;
	p->lo = attr_float(pp, "min", -INFINITY);
	p->hi = attr_float(pp, "max", INFINITY);
	p->clip_inputs = pp->opset >= 11;
	for (int i = 1; i < pp->nin; i++)
		if (pp->in[i] && (pp->in[i]->dtype != RUNNER_FLOAT || rval_numel(pp->in[i]) != 1))
			return rerr(pp, RUNNER_EUNSUPPORTED, "Clip: %s must be a float scalar",
				    pp->in[i]->name);
	return 0;
}

static void clip_run(const struct rnode *nd, const struct runner_tensor *in,
		     struct runner_tensor *out, void *scratch)
{
	const struct unary_params *p = (const void *)nd->params;
	const float *restrict x = in[0].data;
	float *restrict y = out[0].data;
	float lo = p->lo, hi = p->hi;
	if (p->clip_inputs) {
		lo = nd->nin > 1 && in[1].data ? *(const float *)in[1].data : -INFINITY;
		hi = nd->nin > 2 && in[2].data ? *(const float *)in[2].data : INFINITY;
	}
	size_t n = runner_numel(&in[0]);
	for (size_t i = 0; i < n; i++) {
		float v = x[i] < lo ? lo : x[i];
		y[i] = v > hi ? hi : v;
	}
}

struct softmax_params {
	int64_t outer, n, inner;
};

static int softmax_prep(struct rprep *pp)
{
	struct softmax_params *p = (void *)pp->node->params;
	int rc = unary_prep(pp);
	if (rc)
		return rc;
	const struct rval *x = pp->in[0];
	int ax = norm_axis(attr_int(pp, "axis", pp->opset >= 13 ? -1 : 1), x->ndim);
	if (ax < 0)
		return rerr(pp, RUNNER_EINVAL, "Softmax: axis is out of range");
	p->outer = p->n = p->inner = 1;
	for (int d = 0; d < x->ndim; d++) {
		if (d < ax)
			p->outer *= x->dims[d];
		else if (d == ax || pp->opset < 13) /* before 13: coerced to 2-D at axis */
			p->n *= x->dims[d];
		else
			p->inner *= x->dims[d];
	}
	return 0;
}

static void softmax_run(const struct rnode *nd, const struct runner_tensor *in,
			struct runner_tensor *out, void *scratch)
{
	const struct softmax_params *p = (const void *)nd->params;
	const float *x = in[0].data;
	float *y = out[0].data;
	for (int64_t o = 0; o < p->outer; o++)
		for (int64_t k = 0; k < p->inner; k++) {
			const float *xs = x + o * p->n * p->inner + k;
			float *ys = y + o * p->n * p->inner + k;
			float mx = -INFINITY, sum = 0.0f;
			for (int64_t j = 0; j < p->n; j++)
				mx = xs[j * p->inner] > mx ? xs[j * p->inner] : mx;
			for (int64_t j = 0; j < p->n; j++) {
				ys[j * p->inner] = expf(xs[j * p->inner] - mx);
				sum += ys[j * p->inner];
			}
			float inv = 1.0f / sum;
			for (int64_t j = 0; j < p->n; j++)
				ys[j * p->inner] *= inv;
		}
}

struct bn_params {
	float eps;
	int64_t n, c, spatial;
};

static int bn_prep(struct rprep *pp)
{
	struct bn_params *p = (void *)pp->node->params;
	int rc = unary_prep(pp);
	for (int i = 1; rc == 0 && i < 5; i++)
		rc = prep_need(pp, i, RUNNER_FLOAT);
	if (rc)
		return rc;
	if (attr_int(pp, "training_mode", 0) || pp->nout > 1)
		return rerr(pp, RUNNER_EUNSUPPORTED, "BatchNormalization: training mode is not supported");
	const struct rval *x = pp->in[0];
	if (x->ndim < 2)
		return rerr(pp, RUNNER_EINVAL, "BatchNormalization: %s must have rank 2 or more", x->name);
	for (int i = 1; i < 5; i++)
		if (rval_numel(pp->in[i]) != (size_t)x->dims[1])
			return rerr(pp, RUNNER_EINVAL, "BatchNormalization: %s must have %lld values",
				    pp->in[i]->name, (long long)x->dims[1]);
	p->eps = attr_float(pp, "epsilon", 1e-5f);
	p->n = x->dims[0];
	p->c = x->dims[1];
	p->spatial = 1;
	for (int i = 2; i < x->ndim; i++)
		p->spatial *= x->dims[i];
	return 0;
}

static void bn_run(const struct rnode *nd, const struct runner_tensor *in, struct runner_tensor *out,
		   void *scratch)
{
	const struct bn_params *p = (const void *)nd->params;
	const float *scale = in[1].data, *bias = in[2].data, *mean = in[3].data, *var = in[4].data;
	for (int64_t n = 0; n < p->n; n++)
		for (int64_t c = 0; c < p->c; c++) {
			const float *restrict x = (const float *)in[0].data + (n * p->c + c) * p->spatial;
			float *restrict y = (float *)out[0].data + (n * p->c + c) * p->spatial;
			float m = mean[c], k = scale[c] / sqrtf(var[c] + p->eps), b = bias[c];
			for (int64_t i = 0; i < p->spatial; i++)
				y[i] = (x[i] - m) * k + b;
		}
}

const struct rop rops_elem[] = {
	{"Add", add_prep, bin_run},
	{"Sub", sub_prep, bin_run},
	{"Mul", mul_prep, bin_run},
	{"Div", div_prep, bin_run},
	{"Relu", unary_prep, relu_run},
	{"LeakyRelu", unary_prep, leakyrelu_run},
	{"Sigmoid", unary_prep, sigmoid_run},
	{"Tanh", unary_prep, tanh_run},
	{"Clip", clip_prep, clip_run},
	{"Softmax", softmax_prep, softmax_run},
	{"BatchNormalization", bn_prep, bn_run},
	{0},
};
