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

static void pool_run(const struct rnode *nd, const struct runner_tensor *in,
		     struct runner_tensor *out, void *scratch)
{
	const struct pool_params *p = (const void *)nd->params;
	const struct conv_geom *g = &p->g;
	int64_t plane = g->in[0] * g->in[1] * g->in[2], npos = conv_geom_npos(g), o[3];
	for (int64_t nc = 0; nc < g->n * g->c; nc++) {
		const float *x = (const float *)in[0].data + nc * plane;
		float *y = (float *)out[0].data + nc * npos;
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
