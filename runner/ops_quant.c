/*
 * ops_quant.c - the int8 path: QuantizeLinear, DequantizeLinear,
 * QLinearMatMul and QLinearConv, for uint8 and int8 tensors.
 *
 * Quantized products accumulate exactly in int32 (zero points subtracted
 * first), then requantize once: y = saturate(round_half_even(acc * s) + zp)
 * with s = (scale_a * scale_b) / scale_y, as ONNX's reference does.
 */
#include "ops.h"

#include <math.h>
#include <string.h>

static bool is_q8(int dtype)
{
	return dtype == RUNNER_UINT8 || dtype == RUNNER_INT8;
}

/* Element i of an int8/uint8/int32 tensor as int32. */
static int32_t qget(const struct runner_tensor *t, size_t i)
{
	if (!t || !t->data)
		return 0;
	if (t->dtype == RUNNER_UINT8)
		return ((const uint8_t *)t->data)[i];
	if (t->dtype == RUNNER_INT8)
		return ((const int8_t *)t->data)[i];
	return ((const int32_t *)t->data)[i];
}

static int32_t qsat(float v, int dtype)
{
	float lo = dtype == RUNNER_UINT8 ? 0.0f : -128.0f, hi = dtype == RUNNER_UINT8 ? 255.0f : 127.0f;
	v = v < lo ? lo : v;
	return (int32_t)(v > hi ? hi : v);
}

static void qput(void *data, int dtype, size_t i, int32_t v)
{
	if (dtype == RUNNER_UINT8)
		((uint8_t *)data)[i] = (uint8_t)v;
	else
		((int8_t *)data)[i] = (int8_t)v;
}

struct qdq_params {
	int64_t c, inner; /* per-axis: channels and the stride of the axis; c = 1 per-tensor */
	int ydtype;
};

/* Checks scale (input 1) and zero point (input 2) against x and the axis. */
static int qdq_prep(struct rprep *pp, int xdtype_ok, int ydtype)
{
	struct qdq_params *p = (void *)pp->node->params;
	int rc;
	if ((rc = prep_need(pp, 0, 0)) || (rc = prep_need(pp, 1, RUNNER_FLOAT)))
		return rc;
	const struct rval *x = pp->in[0], *s = pp->in[1], *z = pp->nin > 2 ? pp->in[2] : NULL;
	if (!xdtype_ok)
		return rerr(pp, RUNNER_EUNSUPPORTED, "%s: input %s has an unsupported type",
			    pp->node->op->name, x->name);
	p->c = 1;
	p->inner = 1;
	if (s->ndim == 1 && x->ndim > 0 && s->dims[0] != 1) {
		int ax = norm_axis(attr_int(pp, "axis", 1), x->ndim);
		if (ax < 0 || s->dims[0] != x->dims[ax])
			return rerr(pp, RUNNER_EINVAL, "%s: scale %s does not match the axis",
				    pp->node->op->name, s->name);
		p->c = x->dims[ax];
		for (int i = ax + 1; i < x->ndim; i++)
			p->inner *= x->dims[i];
	} else if (rval_numel(s) != 1) {
		return rerr(pp, RUNNER_EINVAL, "%s: scale %s must be a scalar or 1-D",
			    pp->node->op->name, s->name);
	}
	if (z && rval_numel(z) != (size_t)p->c)
		return rerr(pp, RUNNER_EINVAL, "%s: zero point %s must match the scale",
			    pp->node->op->name, z->name);
	p->ydtype = ydtype;
	rval_set(pp->out[0], ydtype, x->ndim, x->dims);
	return 0;
}

static int quantize_prep(struct rprep *pp)
{
	const struct rval *z = pp->nin > 2 ? pp->in[2] : NULL;
	if (z && !is_q8(z->dtype))
		return rerr(pp, RUNNER_EUNSUPPORTED, "QuantizeLinear: zero point %s must be int8 or uint8",
			    z->name);
	int ok = pp->nin > 0 && pp->in[0] && pp->in[0]->dtype == RUNNER_FLOAT;
	return qdq_prep(pp, ok, z ? z->dtype : RUNNER_UINT8);
}

static void quantize_run(const struct rnode *nd, const struct runner_tensor *in,
			 struct runner_tensor *out, void *scratch)
{
	const struct qdq_params *p = (const void *)nd->params;
	const float *x = in[0].data, *s = in[1].data;
	const struct runner_tensor *z = nd->nin > 2 ? &in[2] : NULL;
	size_t n = runner_numel(&in[0]);
	for (size_t i = 0; i < n; i++) {
		size_t c = (size_t)((int64_t)i / p->inner % p->c);
		float v = nearbyintf(x[i] / s[c]) + (float)qget(z, c);
		qput(out[0].data, p->ydtype, i, qsat(v, p->ydtype));
	}
}

static int dequantize_prep(struct rprep *pp)
{
	int ok = pp->nin > 0 && pp->in[0] && (is_q8(pp->in[0]->dtype) || pp->in[0]->dtype == RUNNER_INT32);
	return qdq_prep(pp, ok, RUNNER_FLOAT);
}

static void dequantize_run(const struct rnode *nd, const struct runner_tensor *in,
			   struct runner_tensor *out, void *scratch)
{
	const struct qdq_params *p = (const void *)nd->params;
	const float *s = in[1].data;
	const struct runner_tensor *z = nd->nin > 2 ? &in[2] : NULL;
	float *y = out[0].data;
	size_t n = runner_numel(&in[0]);
	for (size_t i = 0; i < n; i++) {
		size_t c = (size_t)((int64_t)i / p->inner % p->c);
		y[i] = (float)(qget(&in[0], i) - qget(z, c)) * s[c];
	}
}

/* C[M,N] += A[M,K] B[K,N] in int32. */
static void igemm_acc(int64_t m, int64_t n, int64_t k, const int32_t *a, const int32_t *b,
		      int32_t *c)
{
	for (int64_t i = 0; i < m; i++) {
		int32_t *restrict ci = c + i * n;
		for (int64_t p = 0; p < k; p++) {
			const int32_t *restrict bp = b + p * n;
			int32_t av = a[i * k + p];
			for (int64_t j = 0; j < n; j++)
				ci[j] += av * bp[j];
		}
	}
}

/* Checks that input i is a scalar of dtype (0 = int8 or uint8). */
static int need_scalar(struct rprep *pp, int i, int dtype)
{
	int rc = prep_need(pp, i, dtype);
	if (rc)
		return rc;
	if (rval_numel(pp->in[i]) != 1 || (!dtype && !is_q8(pp->in[i]->dtype)))
		return rerr(pp, RUNNER_EUNSUPPORTED, "%s: %s must be a per-tensor int8/uint8 or float scalar",
			    pp->node->op->name, pp->in[i]->name);
	return 0;
}

struct qmm_params {
	int64_t batches, m, n, k, sa, sb; /* sa/sb: matrix stride per batch, 0 if shared */
};

static int qlinearmatmul_prep(struct rprep *pp)
{
	struct qmm_params *p = (void *)pp->node->params;
	static const int kinds[8] = {0, RUNNER_FLOAT, 0, 0, RUNNER_FLOAT, 0, RUNNER_FLOAT, 0};
	int rc;
	for (int i = 0; i < 8; i++)
		if ((rc = (i == 0 || i == 3) ? prep_need(pp, i, 0) : need_scalar(pp, i, kinds[i])))
			return rc;
	const struct rval *a = pp->in[0], *b = pp->in[3];
	if (!is_q8(a->dtype) || !is_q8(b->dtype) || a->ndim < 2 || b->ndim < 2)
		return rerr(pp, RUNNER_EUNSUPPORTED, "QLinearMatMul: inputs must be 8-bit of rank 2 or more");
	p->m = a->dims[a->ndim - 2];
	p->k = a->dims[a->ndim - 1];
	p->n = b->dims[b->ndim - 1];
	if (b->dims[b->ndim - 2] != p->k)
		return rerr(pp, RUNNER_EINVAL, "QLinearMatMul: inner dimensions differ");
	size_t ba = 1, bb = 1;
	for (int i = 0; i < a->ndim - 2; i++)
		ba *= (size_t)a->dims[i];
	for (int i = 0; i < b->ndim - 2; i++)
		bb *= (size_t)b->dims[i];
	const struct rval *big = ba >= bb ? a : b;
	if (ba != bb && ((ba != 1 && bb != 1) || (ba == 1 ? a : b)->ndim > 2))
		return rerr(pp, RUNNER_EUNSUPPORTED, "QLinearMatMul: batch broadcasting other than a shared 2-D operand");
	p->batches = (int64_t)(ba > bb ? ba : bb);
	p->sa = ba == 1 ? 0 : p->m * p->k;
	p->sb = bb == 1 ? 0 : p->k * p->n;
	pp->node->scratch = (size_t)(p->m * p->k + p->k * p->n + p->m * p->n) * sizeof(int32_t);
	int64_t d[RUNNER_MAX_DIMS];
	memcpy(d, big->dims, sizeof(d));
	d[big->ndim - 2] = p->m;
	d[big->ndim - 1] = p->n;
	rval_set(pp->out[0], pp->in[7]->dtype, big->ndim, d);
	return 0;
}

static void qlinearmatmul_run(const struct rnode *nd, const struct runner_tensor *in,
			      struct runner_tensor *out, void *scratch)
{
	const struct qmm_params *p = (const void *)nd->params;
	int32_t *a = scratch, *b = a + p->m * p->k, *acc = b + p->k * p->n;
	int32_t azp = qget(&in[2], 0), bzp = qget(&in[5], 0), yzp = qget(&in[7], 0);
	float s = *(const float *)in[1].data * *(const float *)in[4].data / *(const float *)in[6].data;
	for (int64_t r = 0; r < p->batches; r++) {
		for (int64_t i = 0; i < p->m * p->k; i++)
			a[i] = qget(&in[0], (size_t)(r * p->sa + i)) - azp;
		for (int64_t i = 0; i < p->k * p->n; i++)
			b[i] = qget(&in[3], (size_t)(r * p->sb + i)) - bzp;
		memset(acc, 0, (size_t)(p->m * p->n) * sizeof(int32_t));
		igemm_acc(p->m, p->n, p->k, a, b, acc);
		for (int64_t i = 0; i < p->m * p->n; i++)
			qput(out[0].data, out[0].dtype, (size_t)(r * p->m * p->n + i),
			     qsat(nearbyintf((float)acc[i] * s) + (float)yzp, out[0].dtype));
	}
}

struct qconv_params {
	struct conv_geom g;
	int64_t m, group, cg, mg, kvol, npos;
	int per_channel; /* w_scale and w_zero_point have one value per output channel */
};

static int qlinearconv_prep(struct rprep *pp)
{
	struct qconv_params *p = (void *)pp->node->params;
	int rc;
	static const int kinds[8] = {0, RUNNER_FLOAT, 0, 0, RUNNER_FLOAT, 0, RUNNER_FLOAT, 0};
	for (int i = 0; i < 8; i++)
		if ((rc = (i == 0 || i == 3 || i == 4 || i == 5) ? prep_need(pp, i, kinds[i])
								  : need_scalar(pp, i, kinds[i])))
			return rc;
	const struct rval *x = pp->in[0], *w = pp->in[3];
	if (!is_q8(x->dtype) || !is_q8(w->dtype) || w->ndim != x->ndim || w->ndim < 3)
		return rerr(pp, RUNNER_EUNSUPPORTED, "QLinearConv: x and w must be 8-bit of equal rank");
	if ((rc = conv_geom_prep(pp, x, w->dims + 2, x->ndim - 2, 0, &p->g)))
		return rc;
	p->group = attr_int(pp, "group", 1);
	p->m = w->dims[0];
	if (p->group < 1 || x->dims[1] % p->group || p->m % p->group || w->dims[1] * p->group != x->dims[1])
		return rerr(pp, RUNNER_EINVAL, "QLinearConv: channels do not match group");
	size_t ns = rval_numel(pp->in[4]), nz = rval_numel(pp->in[5]);
	p->per_channel = ns != 1;
	if ((ns != 1 && ns != (size_t)p->m) || nz != ns || !is_q8(pp->in[5]->dtype))
		return rerr(pp, RUNNER_EINVAL, "QLinearConv: w_scale and w_zero_point must be scalars or per output channel");
	if (pp->nin > 8 && pp->in[8] && (pp->in[8]->dtype != RUNNER_INT32 || rval_numel(pp->in[8]) != (size_t)p->m))
		return rerr(pp, RUNNER_EINVAL, "QLinearConv: bias must have one int32 per output channel");
	p->cg = x->dims[1] / p->group;
	p->mg = p->m / p->group;
	p->kvol = p->g.k[0] * p->g.k[1] * p->g.k[2];
	p->npos = conv_geom_npos(&p->g);
	pp->node->scratch = (size_t)(p->cg * p->kvol * p->npos + p->mg * p->npos + p->m * p->cg * p->kvol) * 4;
	int64_t d[RUNNER_MAX_DIMS];
	rval_set(pp->out[0], pp->in[7]->dtype, conv_geom_dims(&p->g, p->m, d), d);
	return 0;
}

/* im2col of (x - zp) for one image's group; padding contributes 0. */
static void qim2col(const struct conv_geom *g, const struct runner_tensor *x, size_t base, int64_t nc,
		    int32_t zp, int32_t *col)
{
	int64_t plane = g->in[0] * g->in[1] * g->in[2];
	for (int64_t c = 0; c < nc; c++)
		for (int64_t kd = 0; kd < g->k[0]; kd++)
			for (int64_t kh = 0; kh < g->k[1]; kh++)
				for (int64_t kw = 0; kw < g->k[2]; kw++)
					for (int64_t od = 0; od < g->out[0]; od++)
						for (int64_t oh = 0; oh < g->out[1]; oh++)
							for (int64_t ow = 0; ow < g->out[2]; ow++) {
								int64_t id = od * g->s[0] - g->pb[0] + kd * g->d[0];
								int64_t ih = oh * g->s[1] - g->pb[1] + kh * g->d[1];
								int64_t iw = ow * g->s[2] - g->pb[2] + kw * g->d[2];
								bool ok = id >= 0 && id < g->in[0] && ih >= 0 &&
									  ih < g->in[1] && iw >= 0 && iw < g->in[2];
								*col++ = ok ? qget(x, base + (size_t)(c * plane + (id * g->in[1] + ih) * g->in[2] + iw)) - zp : 0;
							}
}

static void qlinearconv_run(const struct rnode *nd, const struct runner_tensor *in,
			    struct runner_tensor *out, void *scratch)
{
	const struct qconv_params *p = (const void *)nd->params;
	const struct conv_geom *g = &p->g;
	int64_t kk = p->cg * p->kvol, plane = g->in[0] * g->in[1] * g->in[2];
	int32_t *col = scratch, *acc = col + kk * p->npos, *wq = acc + p->mg * p->npos;
	int32_t xzp = qget(&in[2], 0), yzp = qget(&in[7], 0);
	float xs = *(const float *)in[1].data, ys = *(const float *)in[6].data;
	const float *ws = in[4].data;
	for (int64_t m = 0; m < p->m; m++)
		for (int64_t i = 0; i < kk; i++)
			wq[m * kk + i] = qget(&in[3], (size_t)(m * kk + i)) - qget(&in[5], (size_t)(p->per_channel ? m : 0));
	for (int64_t n = 0; n < g->n; n++)
		for (int64_t gr = 0; gr < p->group; gr++) {
			qim2col(g, &in[0], (size_t)((n * g->c + gr * p->cg) * plane), p->cg, xzp, col);
			memset(acc, 0, (size_t)(p->mg * p->npos) * sizeof(int32_t));
			igemm_acc(p->mg, p->npos, kk, wq + gr * p->mg * kk, col, acc);
			for (int64_t m = 0; m < p->mg; m++) {
				int64_t oc = gr * p->mg + m;
				int32_t b = nd->nin > 8 ? qget(&in[8], (size_t)oc) : 0;
				float s = xs * ws[p->per_channel ? oc : 0] / ys;
				size_t o = (size_t)((n * p->m + oc) * p->npos);
				for (int64_t i = 0; i < p->npos; i++)
					qput(out[0].data, out[0].dtype, o + (size_t)i,
					     qsat(nearbyintf((float)(acc[m * p->npos + i] + b) * s) + (float)yzp,
						  out[0].dtype));
			}
		}
}

const struct rop rops_quant[] = {
	{"QuantizeLinear", quantize_prep, quantize_run},
	{"DequantizeLinear", dequantize_prep, dequantize_run},
	{"QLinearMatMul", qlinearmatmul_prep, qlinearmatmul_run},
	{"QLinearConv", qlinearconv_prep, qlinearconv_run},
	{0},
};
