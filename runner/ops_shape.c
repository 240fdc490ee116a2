/*
 * ops_shape.c - data-movement operators for every element type: Identity,
 * Flatten, Reshape, Transpose, Concat, and Constant (folded at load).
 *
 * Reshape's target shape must be known at load (an initializer, a Constant
 * or a value fixed by the caller), since memory is planned once.
 */
#include "ops.h"

#include <string.h>

static int copy_prep_shape(struct rprep *p, int ndim, const int64_t *dims)
{
	size_t n = 1;
	for (int i = 0; i < ndim; i++)
		n *= (size_t)dims[i];
	if (n != rval_numel(p->in[0]))
		return rerr(p, RUNNER_EINVAL, "%s: new shape has %zu elements, input %s has %zu",
			    p->node->op->name, n, p->in[0]->name, rval_numel(p->in[0]));
	rval_set(p->out[0], p->in[0]->dtype, ndim, dims);
	return 0;
}

static void copy_run(const struct rnode *nd, const struct runner_tensor *in,
		     struct runner_tensor *out, void *scratch)
{
	size_t n = runner_numel(&in[0]) * runner_dtype_size(in[0].dtype);
	if (n && out[0].data != in[0].data)
		memcpy(out[0].data, in[0].data, n);
}

static int identity_prep(struct rprep *p)
{
	int rc = prep_need(p, 0, 0);
	return rc ? rc : copy_prep_shape(p, p->in[0]->ndim, p->in[0]->dims);
}

static int flatten_prep(struct rprep *p)
{
	int rc = prep_need(p, 0, 0);
	if (rc)
		return rc;
	const struct rval *x = p->in[0];
	int64_t ax = attr_int(p, "axis", 1);
	if (ax < 0)
		ax += x->ndim;
	if (ax < 0 || ax > x->ndim)
		return rerr(p, RUNNER_EINVAL, "Flatten: axis is out of range");
	int64_t d[2] = {1, 1};
	for (int i = 0; i < x->ndim; i++)
		d[i >= ax] *= x->dims[i];
	return copy_prep_shape(p, 2, d);
}

static int reshape_prep(struct rprep *p)
{
	int rc = prep_need(p, 0, 0);
	if (rc || (rc = prep_need(p, 1, RUNNER_INT64)))
		return rc;
	const struct rval *x = p->in[0], *s = p->in[1];
	if (s->kind != RVAL_CONST)
		return rerr(p, RUNNER_EUNSUPPORTED, "Reshape: shape %s must be a constant", s->name);
	size_t n = rval_numel(s), known = 1;
	if (n > RUNNER_MAX_DIMS || s->ndim != 1)
		return rerr(p, RUNNER_EUNSUPPORTED, "Reshape: shape %s must be 1-D, at most %d values",
			    s->name, RUNNER_MAX_DIMS);
	int64_t d[RUNNER_MAX_DIMS];
	int infer = -1, allowzero = (int)attr_int(p, "allowzero", 0);
	for (size_t i = 0; i < n; i++) {
		d[i] = ((const int64_t *)s->data)[i];
		if (d[i] == 0 && !allowzero) {
			if ((int)i >= x->ndim)
				return rerr(p, RUNNER_EINVAL, "Reshape: shape[%zu] copies a missing axis", i);
			d[i] = x->dims[i];
		}
		if (d[i] == -1) {
			if (infer >= 0)
				return rerr(p, RUNNER_EINVAL, "Reshape: more than one -1 in the shape");
			infer = (int)i;
		} else if (d[i] < 0) {
			return rerr(p, RUNNER_EINVAL, "Reshape: shape[%zu] is negative", i);
		} else {
			known *= (size_t)d[i];
		}
	}
	if (infer >= 0) {
		if (known == 0)
			return rerr(p, RUNNER_EINVAL, "Reshape: cannot infer -1 beside a zero dimension");
		d[infer] = (int64_t)(rval_numel(x) / known);
	}
	return copy_prep_shape(p, (int)n, d);
}

struct transpose_params {
	int ndim;
	int64_t dims[RUNNER_MAX_DIMS];	  /* output dims */
	int64_t istride[RUNNER_MAX_DIMS]; /* input stride (elements) of each output axis */
};

static int transpose_prep(struct rprep *p)
{
	struct transpose_params *t = (void *)p->node->params;
	int rc = prep_need(p, 0, 0);
	if (rc)
		return rc;
	const struct rval *x = p->in[0];
	int64_t perm[RUNNER_MAX_DIMS], st[RUNNER_MAX_DIMS];
	int np = attr_ints(p, "perm", perm, RUNNER_MAX_DIMS);
	if (np < 0)
		for (int i = 0; i < x->ndim; i++)
			perm[i] = x->ndim - 1 - i;
	else if (np != x->ndim)
		return rerr(p, RUNNER_EINVAL, "Transpose: perm has %d values for rank %d", np, x->ndim);
	int seen = 0;
	st[x->ndim - 1 < 0 ? 0 : x->ndim - 1] = 1;
	for (int i = x->ndim - 2; i >= 0; i--)
		st[i] = st[i + 1] * x->dims[i + 1];
	t->ndim = x->ndim;
	for (int i = 0; i < x->ndim; i++) {
		if (perm[i] < 0 || perm[i] >= x->ndim || (seen & (1 << perm[i])))
			return rerr(p, RUNNER_EINVAL, "Transpose: perm is not a permutation");
		seen |= 1 << perm[i];
		t->dims[i] = x->dims[perm[i]];
		t->istride[i] = st[perm[i]];
	}
	rval_set(p->out[0], x->dtype, x->ndim, t->dims);
	return 0;
}

#define TRANSPOSE_ROW(T)                                                                           \
	do {                                                                                       \
		const T *restrict s = (const T *)in[0].data + off;                                 \
		T *restrict d = (T *)out[0].data + r * n;                                          \
		for (int64_t j = 0; j < n; j++)                                                    \
			d[j] = s[j * st];                                                          \
	} while (0)

static void transpose_run(const struct rnode *nd, const struct runner_tensor *in,
			  struct runner_tensor *out, void *scratch)
{
	const struct transpose_params *t = (const void *)nd->params;
	size_t es = runner_dtype_size(in[0].dtype);
	if (t->ndim == 0) {
		memcpy(out[0].data, in[0].data, es);
		return;
	}
	int last = t->ndim - 1;
	int64_t idx[RUNNER_MAX_DIMS] = {0}, n = t->dims[last], st = t->istride[last], rows = 1;
	for (int d = 0; d < last; d++)
		rows *= t->dims[d];
	if (n == 0)
		return;
	for (int64_t r = 0; r < rows; r++) {
		int64_t off = 0;
		for (int d = 0; d < last; d++)
			off += idx[d] * t->istride[d];
		if (es == 8)
			TRANSPOSE_ROW(int64_t);
		else if (es == 4)
			TRANSPOSE_ROW(int32_t);
		else
			TRANSPOSE_ROW(uint8_t);
		for (int d = last - 1; d >= 0 && ++idx[d] == t->dims[d]; d--)
			idx[d] = 0;
	}
}

struct concat_params {
	int64_t outer;
	size_t chunk[ROP_MAX_IN]; /* bytes each input contributes per outer step */
};

static int concat_prep(struct rprep *p)
{
	struct concat_params *c = (void *)p->node->params;
	int rc = prep_need(p, 0, 0);
	if (rc)
		return rc;
	const struct rval *x = p->in[0];
	int ax = norm_axis(attr_int(p, "axis", 0), x->ndim);
	if (ax < 0)
		return rerr(p, RUNNER_EINVAL, "Concat: axis is out of range");
	int64_t d[RUNNER_MAX_DIMS];
	memcpy(d, x->dims, sizeof(d));
	d[ax] = 0;
	for (int i = 0; i < p->nin; i++) {
		if ((rc = prep_need(p, i, x->dtype)))
			return rc;
		const struct rval *y = p->in[i];
		for (int k = 0; k < x->ndim; k++)
			if (y->ndim != x->ndim || (k != ax && y->dims[k] != x->dims[k]))
				return rerr(p, RUNNER_EINVAL, "Concat: %s does not match %s off the axis",
					    y->name, x->name);
		d[ax] += y->dims[ax];
		c->chunk[i] = runner_dtype_size(y->dtype);
		for (int k = ax; k < x->ndim; k++)
			c->chunk[i] *= (size_t)y->dims[k];
	}
	c->outer = 1;
	for (int k = 0; k < ax; k++)
		c->outer *= x->dims[k];
	rval_set(p->out[0], x->dtype, x->ndim, d);
	return 0;
}

static void concat_run(const struct rnode *nd, const struct runner_tensor *in,
		       struct runner_tensor *out, void *scratch)
{
	const struct concat_params *c = (const void *)nd->params;
	unsigned char *o = out[0].data;
	for (int64_t r = 0; r < c->outer; r++)
		for (int i = 0; i < nd->nin; i++) {
			memcpy(o, (const unsigned char *)in[i].data + (size_t)r * c->chunk[i], c->chunk[i]);
			o += c->chunk[i];
		}
}

static int constant_prep(struct rprep *p)
{
	if (p->nout != 1 || !attr_has(p, "value"))
		return rerr(p, RUNNER_EUNSUPPORTED, "Constant: only the value attribute is supported");
	return attr_tensor(p, "value", p->out[0]);
}

const struct rop rops_shape[] = {
	{"Identity", identity_prep, copy_run},
	{"Flatten", flatten_prep, copy_run},
	{"Reshape", reshape_prep, copy_run},
	{"Transpose", transpose_prep, transpose_run},
	{"Concat", concat_prep, concat_run},
	{"Constant", constant_prep, NULL},
	{0},
};
