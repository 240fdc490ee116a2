/*
 * ops_linalg.c - Gemm, MatMul and Conv on float32, and the convolution
 * geometry shared with pooling and QLinearConv.
 *
 * Every product goes through gemm.c's kernels: sgemm_acc, or sgemm_nt_acc
 * for Gemm with transB (the usual layout of a fully connected layer's
 * weights), which reads B's rows as they are instead of transposing them on
 * every run.  Conv lowers each group of each image to im2col + sgemm_acc,
 * with the column buffer in the context's scratch (sized at load).
 */
#include "ops.h"

#include <string.h>

static void transpose2d(const float *restrict src, int64_t rows, int64_t cols, float *restrict dst)
{
	for (int64_t r = 0; r < rows; r++)
		for (int64_t c = 0; c < cols; c++)
			dst[c * rows + r] = src[r * cols + c];
}

struct gemm_params {
	int64_t m, n, k;
	int ta, tb;
	float alpha, beta;
	int64_t csm, csn; /* strides of C over rows and columns, 0 where broadcast */
};

static int gemm_prep(struct rprep *pp)
{
	struct gemm_params *p = (void *)pp->node->params;
	int rc;
	if ((rc = prep_need(pp, 0, RUNNER_FLOAT)) || (rc = prep_need(pp, 1, RUNNER_FLOAT)))
		return rc;
	const struct rval *a = pp->in[0], *b = pp->in[1], *c = pp->nin > 2 ? pp->in[2] : NULL;
	if (a->ndim != 2 || b->ndim != 2)
		return rerr(pp, RUNNER_EINVAL, "Gemm: A and B must be 2-D");
	p->ta = (int)attr_int(pp, "transA", 0);
	p->tb = (int)attr_int(pp, "transB", 0);
	p->alpha = attr_float(pp, "alpha", 1.0f);
	p->beta = attr_float(pp, "beta", 1.0f);
	p->m = a->dims[p->ta ? 1 : 0];
	p->k = a->dims[p->ta ? 0 : 1];
	p->n = b->dims[p->tb ? 0 : 1];
	if (b->dims[p->tb ? 1 : 0] != p->k)
		return rerr(pp, RUNNER_EINVAL, "Gemm: inner dimensions of %s and %s differ", a->name,
			    b->name);
	if (c) {
		if (c->dtype != RUNNER_FLOAT || c->ndim > 2)
			return rerr(pp, RUNNER_EINVAL, "Gemm: C must be float of rank 2 or less");
		int64_t cm = c->ndim == 2 ? c->dims[0] : 1, cn = c->ndim >= 1 ? c->dims[c->ndim - 1] : 1;
		if ((cm != 1 && cm != p->m) || (cn != 1 && cn != p->n))
			return rerr(pp, RUNNER_EINVAL, "Gemm: C does not broadcast to (M, N)");
		p->csn = cn == 1 ? 0 : 1;
		p->csm = cm == 1 ? 0 : cn;
	}
	pp->node->scratch = (p->ta ? p->m * p->k : 0) * sizeof(float);
	int64_t d[2] = {p->m, p->n};
	rval_set(pp->out[0], RUNNER_FLOAT, 2, d);
	return 0;
}

static void gemm_run(const struct rnode *nd, const struct runner_tensor *in,
		     struct runner_tensor *out, void *scratch)
{
	const struct gemm_params *p = (const void *)nd->params;
	const float *a = in[0].data, *b = in[1].data;
	float *y = out[0].data;
	if (p->ta) {
		transpose2d(a, p->k, p->m, scratch);
		a = scratch;
	}
	memset(y, 0, (size_t)(p->m * p->n) * sizeof(float));
	if (p->tb)
		sgemm_nt_acc(p->m, p->n, p->k, a, p->k, b, p->k, y, p->n);
	else
		sgemm_acc(p->m, p->n, p->k, a, p->k, b, p->n, y, p->n);
	const float *c = nd->nin > 2 ? in[2].data : NULL;
	for (int64_t i = 0; i < p->m; i++) {
		float *restrict yi = y + i * p->n;
		if (c) {
			const float *ci = c + i * p->csm;
			for (int64_t j = 0; j < p->n; j++)
				yi[j] = p->alpha * yi[j] + p->beta * ci[j * p->csn];
		} else {
			for (int64_t j = 0; j < p->n; j++)
				yi[j] *= p->alpha;
		}
	}
}

struct matmul_params {
	int64_t m, n, k;
	int nb;			    /* batch rank */
	int64_t bdims[RUNNER_MAX_DIMS]; /* broadcast batch dims */
	int64_t sa[RUNNER_MAX_DIMS], sb[RUNNER_MAX_DIMS]; /* batch strides in elements */
};

/* Batch strides (elements, 0 where broadcast) of v's leading dims against bd. */
static void matmul_strides(const struct rval *v, int vb, int nb, const int64_t *bd, int64_t mat,
			   int64_t *st)
{
	int64_t k = mat;
	for (int i = nb - 1; i >= 0; i--) {
		int iv = i - (nb - vb);
		int64_t d = iv >= 0 ? v->dims[iv] : 1;
		st[i] = d == bd[i] && d != 1 ? k : 0;
		k *= d;
	}
}

static int matmul_prep(struct rprep *pp)
{
	struct matmul_params *p = (void *)pp->node->params;
	int rc;
	if ((rc = prep_need(pp, 0, RUNNER_FLOAT)) || (rc = prep_need(pp, 1, RUNNER_FLOAT)))
		return rc;
	const struct rval *a = pp->in[0], *b = pp->in[1];
	if (a->ndim < 1 || b->ndim < 1)
		return rerr(pp, RUNNER_EINVAL, "MatMul: inputs must have rank 1 or more");
	p->m = a->ndim >= 2 ? a->dims[a->ndim - 2] : 1;
	p->k = a->dims[a->ndim - 1];
	p->n = b->ndim >= 2 ? b->dims[b->ndim - 1] : 1;
	if ((b->ndim >= 2 ? b->dims[b->ndim - 2] : b->dims[0]) != p->k)
		return rerr(pp, RUNNER_EINVAL, "MatMul: inner dimensions of %s and %s differ", a->name,
			    b->name);
	int ab = a->ndim > 2 ? a->ndim - 2 : 0, bb = b->ndim > 2 ? b->ndim - 2 : 0;
	struct rval ba = *a, bbv = *b;
	ba.ndim = ab;
	bbv.ndim = bb;
	if ((rc = prep_broadcast(pp, &ba, &bbv, &p->nb, p->bdims)))
		return rc;
	matmul_strides(a, ab, p->nb, p->bdims, p->m * p->k, p->sa);
	matmul_strides(b, bb, p->nb, p->bdims, p->k * p->n, p->sb);
	int64_t d[RUNNER_MAX_DIMS];
	int nd = p->nb;
	memcpy(d, p->bdims, sizeof(d));
	if (a->ndim >= 2)
		d[nd++] = p->m;
	if (b->ndim >= 2)
		d[nd++] = p->n;
	if (nd > RUNNER_MAX_DIMS)
		return rerr(pp, RUNNER_EUNSUPPORTED, "MatMul: rank is too large");
	rval_set(pp->out[0], RUNNER_FLOAT, nd, d);
	return 0;
}

static void matmul_run(const struct rnode *nd, const struct runner_tensor *in,
		       struct runner_tensor *out, void *scratch)
{
	const struct matmul_params *p = (const void *)nd->params;
	int64_t idx[RUNNER_MAX_DIMS] = {0}, batches = 1;
	for (int i = 0; i < p->nb; i++)
		batches *= p->bdims[i];
	float *y = out[0].data;
	memset(y, 0, (size_t)(batches * p->m * p->n) * sizeof(float));
	for (int64_t r = 0; r < batches; r++) {
		int64_t oa = 0, ob = 0;
		for (int i = 0; i < p->nb; i++) {
			oa += idx[i] * p->sa[i];
			ob += idx[i] * p->sb[i];
		}
		sgemm_acc(p->m, p->n, p->k, (const float *)in[0].data + oa, p->k,
			  (const float *)in[1].data + ob, p->n, y + r * p->m * p->n, p->n);
		for (int i = p->nb - 1; i >= 0 && ++idx[i] == p->bdims[i]; i--)
			idx[i] = 0;
	}
}

/* Reads an attribute of nsp values into the last nsp of 3 slots; absent keeps out. */
static int geom_attr(struct rprep *p, const char *name, int nsp, int64_t *out)
{
	int64_t v[6];
	int n = attr_ints(p, name, v, 6);
	if (n < 0)
		return 0;
	if (n != nsp)
		return rerr(p, RUNNER_EINVAL, "%s: %s has %d values for %d spatial axes",
			    p->node->op->name, name, n, nsp);
	for (int i = 0; i < nsp; i++)
		out[3 - nsp + i] = v[i];
	return 0;
}

static int64_t ceil_div(int64_t a, int64_t b)
{
	return a >= 0 ? (a + b - 1) / b : -((-a) / b);
}

/* Output sizes and auto_pad pads once strides, dilations and kernel are known. */
static int geom_out(struct rprep *p, struct conv_geom *g, const char *pad, int ceil_mode)
{
	for (int i = 0; i < 3; i++) {
		int64_t ke = (g->k[i] - 1) * g->d[i] + 1;
		if (g->s[i] < 1 || g->d[i] < 1 || g->k[i] < 1)
			return rerr(p, RUNNER_EINVAL, "%s: strides, dilations and kernel must be positive",
				    p->node->op->name);
		if (strcmp(pad, "SAME_UPPER") == 0 || strcmp(pad, "SAME_LOWER") == 0) {
			g->out[i] = ceil_div(g->in[i], g->s[i]);
			int64_t tot = (g->out[i] - 1) * g->s[i] + ke - g->in[i];
			tot = tot < 0 ? 0 : tot;
			g->pb[i] = pad[5] == 'U' ? tot / 2 : tot - tot / 2;
			g->pe[i] = tot - g->pb[i];
			continue;
		}
		int64_t span = g->in[i] + g->pb[i] + g->pe[i] - ke;
		if (span < 0)
			return rerr(p, RUNNER_EINVAL, "%s: kernel is larger than the padded input",
				    p->node->op->name);
		g->out[i] = (ceil_mode ? ceil_div(span, g->s[i]) : span / g->s[i]) + 1;
		if (ceil_mode && (g->out[i] - 1) * g->s[i] >= g->in[i] + g->pb[i])
			g->out[i]--;
	}
	return 0;
}

int conv_geom_prep(struct rprep *p, const struct rval *x, const int64_t *kernel, int nsp,
		   int ceil_mode, struct conv_geom *g)
{
	int rc;
	if (nsp < 1 || nsp > 3 || x->ndim != nsp + 2)
		return rerr(p, RUNNER_EUNSUPPORTED, "%s: only 1 to 3 spatial axes are supported",
			    p->node->op->name);
	g->nsp = nsp;
	g->n = x->dims[0];
	g->c = x->dims[1];
	for (int i = 0; i < 3; i++) {
		g->in[i] = i < 3 - nsp ? 1 : x->dims[2 + i - (3 - nsp)];
		g->k[i] = i < 3 - nsp ? 1 : kernel[i - (3 - nsp)];
		g->s[i] = g->d[i] = 1;
		g->pb[i] = g->pe[i] = 0;
	}
	if ((rc = geom_attr(p, "strides", nsp, g->s)) || (rc = geom_attr(p, "dilations", nsp, g->d)))
		return rc;
	int64_t pads[6];
	int np = attr_ints(p, "pads", pads, 6);
	if (np >= 0 && np != 2 * nsp)
		return rerr(p, RUNNER_EINVAL, "%s: pads has %d values for %d spatial axes",
			    p->node->op->name, np, nsp);
	for (int i = 0; np > 0 && i < nsp; i++) {
		g->pb[3 - nsp + i] = pads[i];
		g->pe[3 - nsp + i] = pads[nsp + i];
		if (pads[i] < 0 || pads[nsp + i] < 0)
			return rerr(p, RUNNER_EINVAL, "%s: pads must not be negative", p->node->op->name);
	}
	const char *pad = attr_str(p, "auto_pad", "NOTSET");
	if (strcmp(pad, "VALID") == 0)
		memset(g->pb, 0, sizeof(g->pb)), memset(g->pe, 0, sizeof(g->pe));
	else if (strcmp(pad, "NOTSET") && strcmp(pad, "SAME_UPPER") && strcmp(pad, "SAME_LOWER"))
		return rerr(p, RUNNER_EINVAL, "%s: auto_pad %s is not valid", p->node->op->name, pad);
	return geom_out(p, g, pad, ceil_mode);
}

int conv_geom_dims(const struct conv_geom *g, int64_t channels, int64_t *dims)
{
	dims[0] = g->n;
	dims[1] = channels;
	for (int i = 0; i < g->nsp; i++)
		dims[2 + i] = g->out[3 - g->nsp + i];
	return g->nsp + 2;
}

int64_t conv_geom_npos(const struct conv_geom *g)
{
	return g->out[0] * g->out[1] * g->out[2];
}

/* Output columns [lo, hi) of a row whose input index ow*s + off is inside [0, n). */
static void inside_range(int64_t out, int64_t s, int64_t off, int64_t n, int64_t *lo, int64_t *hi)
{
	*lo = off >= 0 ? 0 : (-off + s - 1) / s;
	*hi = n - 1 - off < 0 ? 0 : (n - 1 - off) / s + 1;
	if (*hi > out)
		*hi = out;
	if (*lo > *hi)
		*lo = *hi;
}

/* One row of im2col: o[ow] = xr[ow*s + off] where that is inside the row, else 0. */
static void im2col_row(const float *xr, int row_ok, int64_t out, int64_t s, int64_t off, int64_t n,
		       float *restrict o)
{
	int64_t lo, hi;
	inside_range(out, s, off, n, &lo, &hi);
	if (!row_ok)
		lo = hi = 0;
	for (int64_t ow = 0; ow < lo; ow++)
		o[ow] = 0.0f;
	if (s == 1) /* short rows: a loop GCC vectorizes beats a call to memcpy */
		for (int64_t ow = lo; ow < hi; ow++)
			o[ow] = xr[ow + off];
	else
		for (int64_t ow = lo; ow < hi; ow++)
			o[ow] = xr[ow * s + off];
	for (int64_t ow = hi; ow < out; ow++)
		o[ow] = 0.0f;
}

void conv_im2col_f32(const struct conv_geom *g, const float *x, int64_t nc, float *col)
{
	int64_t npos = conv_geom_npos(g), plane = g->in[0] * g->in[1] * g->in[2];
	for (int64_t c = 0; c < nc; c++)
		for (int64_t kd = 0; kd < g->k[0]; kd++)
			for (int64_t kh = 0; kh < g->k[1]; kh++)
				for (int64_t kw = 0; kw < g->k[2]; kw++, col += npos) {
					float *o = col;
					int64_t off = kw * g->d[2] - g->pb[2];
					for (int64_t od = 0; od < g->out[0]; od++) {
						int64_t id = od * g->s[0] - g->pb[0] + kd * g->d[0];
						for (int64_t oh = 0; oh < g->out[1]; oh++, o += g->out[2]) {
							int64_t ih = oh * g->s[1] - g->pb[1] + kh * g->d[1];
							int row_ok = id >= 0 && id < g->in[0] && ih >= 0 && ih < g->in[1];
							const float *xr = x + c * plane + (row_ok ? (id * g->in[1] + ih) * g->in[2] : 0);
							im2col_row(xr, row_ok, g->out[2], g->s[2], off, g->in[2], o);
						}
					}
				}
}

struct conv_params {
	struct conv_geom g;
	int64_t m, group, cg, mg, kvol; /* out channels, groups, per-group in/out, kernel volume */
	int direct;			/* 1x1, stride 1, no pad: X is its own column matrix */
};

static int conv_prep(struct rprep *pp)
{
	struct conv_params *p = (void *)pp->node->params;
	int rc;
	if ((rc = prep_need(pp, 0, RUNNER_FLOAT)) || (rc = prep_need(pp, 1, RUNNER_FLOAT)))
		return rc;
	const struct rval *x = pp->in[0], *w = pp->in[1];
	if (w->ndim != x->ndim || w->ndim < 3)
		return rerr(pp, RUNNER_EINVAL, "Conv: weights %s must have the rank of %s", w->name,
			    x->name);
	if ((rc = conv_geom_prep(pp, x, w->dims + 2, x->ndim - 2, 0, &p->g)))
		return rc;
	p->group = attr_int(pp, "group", 1);
	p->m = w->dims[0];
	if (p->group < 1 || x->dims[1] % p->group || p->m % p->group || w->dims[1] * p->group != x->dims[1])
		return rerr(pp, RUNNER_EINVAL, "Conv: channels do not match group %lld",
			    (long long)p->group);
	p->cg = x->dims[1] / p->group;
	p->mg = p->m / p->group;
	p->kvol = p->g.k[0] * p->g.k[1] * p->g.k[2];
	if (pp->nin > 2 && pp->in[2] && (pp->in[2]->dtype != RUNNER_FLOAT || rval_numel(pp->in[2]) != (size_t)p->m))
		return rerr(pp, RUNNER_EINVAL, "Conv: bias must have %lld float values", (long long)p->m);
	p->direct = p->kvol == 1;
	for (int i = 0; i < 3; i++)
		p->direct &= p->g.s[i] == 1 && p->g.pb[i] == 0 && p->g.pe[i] == 0;
	pp->node->scratch = p->direct ? 0 : (size_t)(p->cg * p->kvol * conv_geom_npos(&p->g)) * sizeof(float);
	int64_t d[RUNNER_MAX_DIMS];
	rval_set(pp->out[0], RUNNER_FLOAT, conv_geom_dims(&p->g, p->m, d), d);
	return 0;
}

static void conv_run(const struct rnode *nd, const struct runner_tensor *in,
		     struct runner_tensor *out, void *scratch)
{
	const struct conv_params *p = (const void *)nd->params;
	const struct conv_geom *g = &p->g;
	int64_t npos = conv_geom_npos(g), plane = g->in[0] * g->in[1] * g->in[2];
	const float *bias = nd->nin > 2 ? in[2].data : NULL, *w = in[1].data;
	for (int64_t n = 0; n < g->n; n++)
		for (int64_t gr = 0; gr < p->group; gr++) {
			const float *x = (const float *)in[0].data + (n * g->c + gr * p->cg) * plane;
			float *y = (float *)out[0].data + (n * p->m + gr * p->mg) * npos;
			const float *col = x;
			if (!p->direct) {
				conv_im2col_f32(g, x, p->cg, scratch);
				col = scratch;
			}
			for (int64_t m = 0; m < p->mg; m++) {
				float b = bias ? bias[gr * p->mg + m] : 0.0f;
				for (int64_t i = 0; i < npos; i++)
					y[m * npos + i] = b;
			}
			sgemm_acc(p->mg, npos, p->cg * p->kvol, w + gr * p->mg * p->cg * p->kvol,
				  p->cg * p->kvol, col, npos, y, npos);
		}
}

const struct rop rops_linalg[] = {
	{"Gemm", gemm_prep, gemm_run},
	{"MatMul", matmul_prep, matmul_run},
	{"Conv", conv_prep, conv_run},
	{0},
};
