/*
 * ops_pool.c - MaxPool, AveragePool and GlobalAveragePool on float32, for 1
 * to 3 spatial axes (normalized to 3 by conv_geom), with pads, auto_pad,
 * strides, dilations (MaxPool), ceil_mode and count_include_pad.
 */
#include "ops.h"

#include <math.h>
#include <string.h>

struct pool_params {
	struct conv_geom g;
	int avg, include_pad;
};

static int pool_prep(struct rprep *pp, int avg)
{
	struct pool_params *p = (void *)pp->node->params;
	int rc = prep_need(pp, 0, RUNNER_FLOAT);
	if (rc)
		return rc;
	if (pp->nout > 1 && pp->out[1])
		return rerr(pp, RUNNER_EUNSUPPORTED, "MaxPool: the Indices output is not supported");
	int64_t k[3];
	int nk = attr_ints(pp, "kernel_shape", k, 3);
	if (nk != pp->in[0]->ndim - 2)
		return rerr(pp, RUNNER_EINVAL, "%s: kernel_shape must have one value per spatial axis",
			    pp->node->op->name);
	if (avg && attr_has(pp, "dilations"))
		return rerr(pp, RUNNER_EUNSUPPORTED, "AveragePool: dilations are not supported");
	if ((rc = conv_geom_prep(pp, pp->in[0], k, nk, (int)attr_int(pp, "ceil_mode", 0), &p->g)))
		return rc;
	p->avg = avg;
	p->include_pad = (int)attr_int(pp, "count_include_pad", 0);
	int64_t d[RUNNER_MAX_DIMS];
	rval_set(pp->out[0], RUNNER_FLOAT, conv_geom_dims(&p->g, p->g.c, d), d);
	return 0;
}

static int maxpool_prep(struct rprep *p) { return pool_prep(p, 0); }
static int avgpool_prep(struct rprep *p) { return pool_prep(p, 1); }

/* One output value at (od, oh, ow) of plane x. */
static float pool_one(const struct pool_params *p, const float *x, const int64_t *o)
{
	const struct conv_geom *g = &p->g;
	float acc = p->avg ? 0.0f : -INFINITY;
	int64_t valid = 1, padded = 1, cnt = 0, st[3];
	for (int i = 0; i < 3; i++) {
		st[i] = o[i] * g->s[i] - g->pb[i];
		int64_t end = st[i] + (g->k[i] - 1) * g->d[i] + 1, lim = g->in[i] + g->pe[i];
		padded *= (end < lim ? end : lim) - st[i];
	}
	for (int64_t a = 0; a < g->k[0]; a++) {
		int64_t id = st[0] + a * g->d[0];
		if (id < 0 || id >= g->in[0])
			continue;
		for (int64_t b = 0; b < g->k[1]; b++) {
			int64_t ih = st[1] + b * g->d[1];
			if (ih < 0 || ih >= g->in[1])
				continue;
			const float *row = x + (id * g->in[1] + ih) * g->in[2];
			for (int64_t c = 0; c < g->k[2]; c++) {
				int64_t iw = st[2] + c * g->d[2];
				if (iw < 0 || iw >= g->in[2])
					continue;
				float v = row[iw];
				cnt++;
				if (p->avg)
					acc += v;
				else if (v > acc || isnan(v))
					acc = v;
			}
		}
	}
	valid = p->include_pad ? padded : cnt;
	return p->avg ? (valid ? acc / (float)valid : 0.0f) : acc;
}

/* True when every window lies inside the input (no padding, no ceil_mode overhang). */
static int pool_inside(const struct conv_geom *g)
{
	for (int i = 0; i < 3; i++)
		if (g->pb[i] || (g->out[i] - 1) * g->s[i] + (g->k[i] - 1) * g->d[i] >= g->in[i])
			return 0;
	return 1;
}

/* Sum of the window at r, in pool_one's order. */
static inline float window_sum(const struct conv_geom *g, const float *r, int64_t ps, int64_t rs)
{
	float acc = 0.0f;
	for (int64_t a = 0; a < g->k[0]; a++)
		for (int64_t b = 0; b < g->k[1]; b++)
			for (int64_t c = 0; c < g->k[2]; c++)
				acc += r[a * g->d[0] * ps + b * g->d[1] * rs + c * g->d[2]];
	return acc;
}

/* Max of the window at r, NaN if any is: branch-free, as random data defeats prediction. */
static inline float window_max(const struct conv_geom *g, const float *r, int64_t ps, int64_t rs)
{
	float acc = -INFINITY;
	int nan = 0;
	for (int64_t a = 0; a < g->k[0]; a++)
		for (int64_t b = 0; b < g->k[1]; b++)
			for (int64_t c = 0; c < g->k[2]; c++) {
				float v = r[a * g->d[0] * ps + b * g->d[1] * rs + c * g->d[2]];
				acc = v > acc ? v : acc;
				nan |= v != v;
			}
	return nan ? NAN : acc;
}

/* MaxPool 2x2, stride 2 (the usual one) on a 2-D plane whose windows are inside. */
static void max2x2_plane(const struct conv_geom *g, const float *x, float *restrict y)
{
	int64_t rs = g->in[2];
	for (int64_t oh = 0; oh < g->out[1]; oh++, y += g->out[2]) {
		const float *restrict r0 = x + 2 * oh * rs, *restrict r1 = r0 + rs;
		for (int64_t ow = 0; ow < g->out[2]; ow++) {
			float a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
			float m = b > a ? b : a;
			m = c > m ? c : m;
			m = d > m ? d : m;
			y[ow] = (a != a) | (b != b) | (c != c) | (d != d) ? NAN : m;
		}
	}
}

static int is_max2x2(const struct pool_params *p)
{
	const struct conv_geom *g = &p->g;
	return !p->avg && g->in[0] == 1 && g->k[0] == 1 && g->k[1] == 2 && g->k[2] == 2 &&
	       g->s[1] == 2 && g->s[2] == 2 && g->d[1] == 1 && g->d[2] == 1;
}

/* pool_one over a whole plane whose windows are all inside: same results, no bounds checks. */
static void pool_plane_inside(const struct pool_params *p, const float *x, float *y)
{
	const struct conv_geom *g = &p->g;
	int64_t kvol = g->k[0] * g->k[1] * g->k[2], rs = g->in[2], ps = g->in[1] * g->in[2];

	if (is_max2x2(p)) {
		max2x2_plane(g, x, y);
		return;
	}
	for (int64_t od = 0; od < g->out[0]; od++)
		for (int64_t oh = 0; oh < g->out[1]; oh++) {
			const float *r = x + od * g->s[0] * ps + oh * g->s[1] * rs;
			for (int64_t ow = 0; ow < g->out[2]; ow++, r += g->s[2])
				*y++ = p->avg ? window_sum(g, r, ps, rs) / (float)kvol : window_max(g, r, ps, rs);
		}
}

static void pool_run(const struct rnode *nd, const struct runner_tensor *in,
		     struct runner_tensor *out, void *scratch)
{
	const struct pool_params *p = (const void *)nd->params;
	const struct conv_geom *g = &p->g;
	int64_t plane = g->in[0] * g->in[1] * g->in[2], npos = conv_geom_npos(g), o[3];
	int inside = pool_inside(g);
	for (int64_t nc = 0; nc < g->n * g->c; nc++) {
		const float *x = (const float *)in[0].data + nc * plane;
		float *y = (float *)out[0].data + nc * npos;
		if (inside) {
			pool_plane_inside(p, x, y);
			continue;
		}
		for (o[0] = 0; o[0] < g->out[0]; o[0]++)
			for (o[1] = 0; o[1] < g->out[1]; o[1]++)
				for (o[2] = 0; o[2] < g->out[2]; o[2]++)
					*y++ = pool_one(p, x, o);
	}
}

struct gap_params {
	int64_t nc, plane;
};

static int gap_prep(struct rprep *pp)
{
	struct gap_params *p = (void *)pp->node->params;
	int rc = prep_need(pp, 0, RUNNER_FLOAT);
	if (rc)
		return rc;
	const struct rval *x = pp->in[0];
	if (x->ndim < 3)
		return rerr(pp, RUNNER_EINVAL, "GlobalAveragePool: %s must have rank 3 or more", x->name);
	int64_t d[RUNNER_MAX_DIMS];
	p->nc = x->dims[0] * x->dims[1];
	p->plane = 1;
	for (int i = 0; i < x->ndim; i++) {
		d[i] = i < 2 ? x->dims[i] : 1;
		p->plane *= i < 2 ? 1 : x->dims[i];
	}
	rval_set(pp->out[0], RUNNER_FLOAT, x->ndim, d);
	return 0;
}

static void gap_run(const struct rnode *nd, const struct runner_tensor *in,
		    struct runner_tensor *out, void *scratch)
{
	const struct gap_params *p = (const void *)nd->params;
	for (int64_t i = 0; i < p->nc; i++) {
		const float *x = (const float *)in[0].data + i * p->plane;
		float s = 0.0f;
		for (int64_t j = 0; j < p->plane; j++)
			s += x[j];
		((float *)out[0].data)[i] = p->plane ? s / (float)p->plane : 0.0f;
	}
}

const struct rop rops_pool[] = {
	{"MaxPool", maxpool_prep, pool_run},
	{"AveragePool", avgpool_prep, pool_run},
	{"GlobalAveragePool", gap_prep, gap_run},
	{0},
};
