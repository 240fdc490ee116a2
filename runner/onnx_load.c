/*
 * onnx_load.c - turns a ModelProto into a runnable, immutable runner_model.
 *
 * Load walks the graph once in file order: every node input must already be
 * known (initializer, fixed value, graph input or an earlier node's output),
 * which checks both completeness and topological order.  Each operator's prep
 * infers its output shapes, so every tensor size is known at load; the memory
 * plan then gives each non-constant value an offset in one arena, reusing
 * space between values whose lifetimes do not overlap.  runner_run() only
 * copies inputs in and calls kernels.
 */
#include "onnx_pb.h"

#include "common/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 64

struct runner_model {
	struct rval *vals;
	int nvals;
	struct rnode *nodes;
	int nnodes;
	int *inputs, ninputs;
	int *outputs, noutputs;
	size_t arena;	     /* bytes for values */
	size_t scratch;	     /* bytes of the largest node scratch, after the values */
};

struct runner_ctx {
	const struct runner_model *m;
	unsigned char *arena;
};

static const struct rop *const op_tables[] = {rops_elem, rops_shape, rops_linalg, rops_pool,
					     rops_quant};

static const struct rop *op_find(const char *name)
{
	for (size_t t = 0; t < sizeof(op_tables) / sizeof(op_tables[0]); t++)
		for (const struct rop *o = op_tables[t]; o->name; o++)
			if (strcmp(o->name, name) == 0)
				return o;
	return NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char *const *runner_ops(void)
{
	static const char *names[128];
	static int done;
	if (!done) { /* first call is made before any thread starts (main) */
		int n = 0;
		for (size_t t = 0; t < sizeof(op_tables) / sizeof(op_tables[0]); t++)
			for (const struct rop *o = op_tables[t]; o->name && n < 127; o++)
				names[n++] = o->name;
		qsort(names, (size_t)n, sizeof(names[0]), cmp_str);
		done = 1;
	}
	return names;
}

size_t rval_numel(const struct rval *v)
{
	size_t n = 1;
	for (int i = 0; i < v->ndim; i++)
		n *= (size_t)v->dims[i];
	return n;
}

void rval_set(struct rval *v, int dtype, int ndim, const int64_t *dims)
{
	v->dtype = dtype;
	v->ndim = ndim;
	for (int i = 0; i < ndim; i++)
		v->dims[i] = dims[i];
	v->nbytes = rval_numel(v) * runner_dtype_size(dtype);
}

int norm_axis(int64_t axis, int rank)
{
	if (axis < 0)
		axis += rank;
	return axis < 0 || axis >= (rank > 0 ? rank : 1) ? -1 : (int)axis;
}

int prep_need(struct rprep *p, int i, int dtype)
{
	const Onnx__NodeProto *np = p->proto;
	if (i >= p->nin || !p->in[i])
		return rerr(p, RUNNER_EINVAL, "node %s (%s): input %d is required", np->name ? np->name : "",
			    np->op_type, i);
	if (dtype && p->in[i]->dtype != dtype)
		return rerr(p, RUNNER_EUNSUPPORTED, "node %s (%s): input %s has type %d, expected %d",
			    np->name ? np->name : "", np->op_type, p->in[i]->name, p->in[i]->dtype, dtype);
	return 0;
}

int prep_broadcast(struct rprep *p, const struct rval *a, const struct rval *b, int *ndim,
		   int64_t *dims)
{
	int n = a->ndim > b->ndim ? a->ndim : b->ndim;
	for (int i = 0; i < n; i++) {
		int ia = i - (n - a->ndim), ib = i - (n - b->ndim);
		int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
		if (da != db && da != 1 && db != 1)
			return rerr(p, RUNNER_EINVAL, "%s and %s: shapes do not broadcast at axis %d",
				    a->name, b->name, i);
		dims[i] = da == 1 ? db : da;
	}
	*ndim = n;
	return 0;
}

static int find_val(const struct runner_model *m, const char *name)
{
	for (int i = 0; i < m->nvals; i++)
		if (strcmp(m->vals[i].name, name) == 0)
			return i;
	return -1;
}

/* Appends a value named name; its index, or -1 on out of memory. */
static int add_val(struct runner_model *m, const char *name, int kind, int *cap)
{
	if (m->nvals == *cap) {
		int nc = *cap ? *cap * 2 : 64;
		struct rval *nv = realloc(m->vals, (size_t)nc * sizeof(*nv));
		if (!nv)
			return -1;
		m->vals = nv;
		*cap = nc;
	}
	struct rval *v = &m->vals[m->nvals];
	memset(v, 0, sizeof(*v));
	v->name = strdup(name);
	if (!v->name)
		return -1;
	v->kind = kind;
	v->def = -1;
	v->last = -1;
	v->known = true;
	return m->nvals++;
}

static int64_t model_opset(const Onnx__ModelProto *mp)
{
	for (size_t i = 0; i < mp->n_opset_import; i++) {
		const char *d = mp->opset_import[i]->domain;
		if (!d || !*d || strcmp(d, "ai.onnx") == 0)
			return mp->opset_import[i]->version;
	}
	return 1;
}

/* Adds graph input vi (skipping ones that are initializers or fixed). */
static int load_input(struct runner_model *m, const Onnx__ValueInfoProto *vi, int *cap,
		      struct rprep *e)
{
	if (find_val(m, vi->name) >= 0)
		return 0;
	const Onnx__TypeProto *tp = vi->type;
	if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE)
		return rerr(e, RUNNER_EUNSUPPORTED, "input %s: only tensor inputs are supported", vi->name);
	const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
	if (!runner_dtype_size(tt->elem_type))
		return rerr(e, RUNNER_EUNSUPPORTED, "input %s: element type %d is not supported", vi->name,
			    tt->elem_type);
	if (!tt->shape || tt->shape->n_dim > RUNNER_MAX_DIMS)
		return rerr(e, RUNNER_EUNSUPPORTED, "input %s: a fixed shape is required", vi->name);
	int64_t dims[RUNNER_MAX_DIMS];
	for (size_t i = 0; i < tt->shape->n_dim; i++) {
		const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
		if (d->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE || d->dim_value < 0)
			return rerr(e, RUNNER_EUNSUPPORTED, "input %s: dimension %zu is not fixed", vi->name, i);
		dims[i] = d->dim_value;
	}
	int k = add_val(m, vi->name, RVAL_INPUT, cap);
	if (k < 0)
		return rerr(e, RUNNER_ENOMEM, "input %s: out of memory", vi->name);
	rval_set(&m->vals[k], tt->elem_type, (int)tt->shape->n_dim, dims);
	m->inputs[m->ninputs++] = k;
	return 0;
}

/* Resolves, preps and appends node np. */
static int load_node(struct runner_model *m, const Onnx__GraphProto *g, size_t idx, int64_t opset,
		     int *cap, struct rprep *e)
{
	const Onnx__NodeProto *np = g->node[idx];
	const char *nn = np->name ? np->name : "";
	if (np->domain && *np->domain && strcmp(np->domain, "ai.onnx") != 0)
		return rerr(e, RUNNER_EUNSUPPORTED, "node %s: operator %s.%s is not supported", nn,
			    np->domain, np->op_type);
	const struct rop *op = op_find(np->op_type);
	if (!op)
		return rerr(e, RUNNER_EUNSUPPORTED, "node %s: operator %s is not supported", nn, np->op_type);
	if (np->n_input > ROP_MAX_IN || np->n_output > ROP_MAX_OUT)
		return rerr(e, RUNNER_EUNSUPPORTED, "node %s (%s): too many inputs or outputs", nn,
			    np->op_type);
	struct rnode *n = &m->nodes[m->nnodes];
	memset(n, 0, sizeof(*n));
	n->op = op;
	n->nin = (int)np->n_input;
	n->nout = (int)np->n_output;
	for (int i = 0; i < n->nin; i++) {
		n->in[i] = *np->input[i] ? find_val(m, np->input[i]) : -1;
		if (*np->input[i] && n->in[i] < 0) {
			for (size_t j = idx + 1; j < g->n_node; j++)
				for (size_t k = 0; k < g->node[j]->n_output; k++)
					if (strcmp(g->node[j]->output[k], np->input[i]) == 0)
						return rerr(e, RUNNER_EINVAL,
							    "node %s (%s): input %s is produced by a later node "
							    "(graph not topologically sorted)",
							    nn, np->op_type, np->input[i]);
			return rerr(e, RUNNER_EINVAL,
				    "node %s (%s): input %s is not produced by any node, initializer or input",
				    nn, np->op_type, np->input[i]);
		}
	}
	for (int i = 0; i < n->nout; i++) {
		n->out[i] = -1;
		if (!*np->output[i])
			continue;
		if (find_val(m, np->output[i]) >= 0)
			return rerr(e, RUNNER_EINVAL, "node %s (%s): output %s is defined twice", nn,
				    np->op_type, np->output[i]);
		n->out[i] = add_val(m, np->output[i], RVAL_TEMP, cap);
		if (n->out[i] < 0)
			return rerr(e, RUNNER_ENOMEM, "out of memory");
		m->vals[n->out[i]].def = m->nnodes;
	}
	struct rprep p = {.proto = np, .opset = opset, .nin = n->nin, .nout = n->nout, .node = n,
			  .err = e->err};
	for (int i = 0; i < n->nin; i++)
		p.in[i] = n->in[i] >= 0 ? &m->vals[n->in[i]] : NULL;
	for (int i = 0; i < n->nout; i++)
		p.out[i] = n->out[i] >= 0 ? &m->vals[n->out[i]] : NULL;
	int rc = op->prep(&p);
	if (rc)
		return rc;
	for (int i = 0; i < n->nout; i++)
		if (p.out[i] && !runner_dtype_size(p.out[i]->dtype))
			return rerr(e, RUNNER_EUNSUPPORTED, "node %s (%s): output %d is not supported", nn,
				    np->op_type, i);
	if (!op->run) /* folded into a constant at load (Constant) */
		return 0;
	for (int i = 0; i < n->nin; i++)
		if (n->in[i] >= 0)
			m->vals[n->in[i]].last = m->nnodes;
	m->nnodes++;
	return 0;
}

static bool overlaps(const struct rval *a, const struct rval *b)
{
	return a->def <= b->last && b->def <= a->last;
}

/* Lowest aligned offset where v fits beside every placed value alive with it. */
static void plan_one(struct runner_model *m, int vi, const int *placed, int np)
{
	struct rval *v = &m->vals[vi];
	size_t off = 0;
	for (bool moved = true; moved;) {
		moved = false;
		for (int j = 0; j < np; j++) {
			const struct rval *o = &m->vals[placed[j]];
			if (!overlaps(v, o) || off >= o->off + o->nbytes || o->off >= off + v->nbytes)
				continue;
			off = (o->off + o->nbytes + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
			moved = true;
		}
	}
	v->off = off;
	size_t end = (off + v->nbytes + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if (end > m->arena)
		m->arena = end;
}

static int plan(struct runner_model *m, struct rprep *e)
{
	int *placed = malloc((size_t)m->nvals * sizeof(int) + 1);
	if (!placed)
		return rerr(e, RUNNER_ENOMEM, "out of memory");
	int np = 0;
	for (int i = 0; i < m->noutputs; i++)
		m->vals[m->outputs[i]].last = m->nnodes;
	for (int i = 0; i < m->nvals; i++) {
		struct rval *v = &m->vals[i];
		if (v->kind == RVAL_CONST)
			continue;
		if (v->last < v->def)
			v->last = v->def;
		plan_one(m, i, placed, np);
		placed[np++] = i;
	}
	free(placed);
	for (int i = 0; i < m->nnodes; i++)
		if (m->nodes[i].scratch > m->scratch)
			m->scratch = m->nodes[i].scratch;
	m->scratch = (m->scratch + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	return 0;
}

static int load_graph(struct runner_model *m, const Onnx__ModelProto *mp,
		      const struct runner_fixed *fixed, size_t nfixed, struct rprep *e)
{
	const Onnx__GraphProto *g = mp->graph;
	int cap = 0, rc;
	if (!g)
		return rerr(e, RUNNER_EINVAL, "model: graph is missing");
	m->nodes = calloc(g->n_node + 1, sizeof(*m->nodes));
	m->inputs = calloc(g->n_input + 1, sizeof(int));
	m->outputs = calloc(g->n_output + 1, sizeof(int));
	if (!m->nodes || !m->inputs || !m->outputs)
		return rerr(e, RUNNER_ENOMEM, "model: out of memory");
	for (size_t i = 0; i < nfixed; i++) {
		int k = add_val(m, fixed[i].name, RVAL_CONST, &cap);
		if (k < 0)
			return rerr(e, RUNNER_ENOMEM, "model: out of memory");
		const struct runner_tensor *t = fixed[i].value;
		rval_set(&m->vals[k], t->dtype, t->ndim, t->dims);
		m->vals[k].data = malloc(m->vals[k].nbytes + 1);
		if (!m->vals[k].data)
			return rerr(e, RUNNER_ENOMEM, "model: out of memory");
		if (m->vals[k].nbytes)
			memcpy(m->vals[k].data, t->data, m->vals[k].nbytes);
	}
	for (size_t i = 0; i < g->n_initializer; i++) {
		const char *name = g->initializer[i]->name ? g->initializer[i]->name : "";
		if (find_val(m, name) >= 0)
			continue;
		int k = add_val(m, name, RVAL_CONST, &cap);
		if (k < 0)
			return rerr(e, RUNNER_ENOMEM, "model: out of memory");
		if ((rc = rval_from_proto(g->initializer[i], &m->vals[k], e)))
			return rc;
	}
	if (g->n_sparse_initializer)
		return rerr(e, RUNNER_EUNSUPPORTED, "model: sparse initializers are not supported");
	for (size_t i = 0; i < g->n_input; i++)
		if ((rc = load_input(m, g->input[i], &cap, e)))
			return rc;
	int64_t opset = model_opset(mp);
	for (size_t i = 0; i < g->n_node; i++)
		if ((rc = load_node(m, g, i, opset, &cap, e)))
			return rc;
	for (size_t i = 0; i < g->n_output; i++) {
		int k = find_val(m, g->output[i]->name);
		if (k < 0)
			return rerr(e, RUNNER_EINVAL, "output %s: not produced by the graph", g->output[i]->name);
		m->outputs[m->noutputs++] = k;
	}
	return plan(m, e);
}

struct runner_model *runner_model_load(const void *buf, size_t len, const struct runner_fixed *fixed,
				       size_t nfixed, struct runner_err *err)
{
	struct rprep e = {.err = err};
	Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, buf);
	if (!mp) {
		rerr(&e, RUNNER_EINVAL, "model: not a valid ONNX ModelProto");
		return NULL;
	}
	struct runner_model *m = calloc(1, sizeof(*m));
	if (!m || load_graph(m, mp, fixed, nfixed, &e)) {
		if (!m)
			rerr(&e, RUNNER_ENOMEM, "model: out of memory");
		runner_model_free(m);
		m = NULL;
	}
	onnx__model_proto__free_unpacked(mp, NULL);
	return m;
}

struct runner_model *runner_model_load_file(const char *path, const struct runner_fixed *fixed,
					    size_t nfixed, struct runner_err *err)
{
	struct rprep e = {.err = err};
	FILE *f = fopen(path, "rb");
	if (!f) {
		rerr(&e, RUNNER_EIO, "model: cannot open %s", path);
		return NULL;
	}
	struct buf b;
	char chunk[16384];
	size_t n;
	buf_init(&b, (size_t)1 << 32);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && buf_append(&b, chunk, n) == 0)
		;
	int bad = ferror(f);
	fclose(f);
	struct runner_model *m = NULL;
	if (buf_failed(&b) || bad)
		rerr(&e, buf_failed(&b) ? RUNNER_ENOMEM : RUNNER_EIO, "model: cannot read %s", path);
	else
		m = runner_model_load((const unsigned char *)(b.p ? b.p : ""), b.len, fixed, nfixed, err);
	buf_free(&b);
	return m;
}

void runner_model_free(struct runner_model *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->nvals; i++) {
		free(m->vals[i].name);
		free(m->vals[i].data);
	}
	free(m->vals);
	free(m->nodes);
	free(m->inputs);
	free(m->outputs);
	free(m);
}

size_t runner_model_ninputs(const struct runner_model *m)
{
	return (size_t)m->ninputs;
}

size_t runner_model_noutputs(const struct runner_model *m)
{
	return (size_t)m->noutputs;
}

size_t runner_model_arena_bytes(const struct runner_model *m)
{
	return m->arena + m->scratch;
}

static void view(const struct runner_model *m, unsigned char *arena, int k, struct runner_tensor *t)
{
	const struct rval *v = &m->vals[k];
	t->dtype = v->dtype;
	t->ndim = v->ndim;
	memcpy(t->dims, v->dims, sizeof(t->dims));
	t->data = v->kind == RVAL_CONST ? v->data : arena + v->off;
}

static const char *io_name(const struct runner_model *m, int k, struct runner_tensor *shape)
{
	view(m, NULL, k, shape);
	shape->data = NULL;
	return m->vals[k].name;
}

const char *runner_model_input(const struct runner_model *m, size_t i, struct runner_tensor *shape)
{
	return i < (size_t)m->ninputs ? io_name(m, m->inputs[i], shape) : NULL;
}

const char *runner_model_output(const struct runner_model *m, size_t i, struct runner_tensor *shape)
{
	return i < (size_t)m->noutputs ? io_name(m, m->outputs[i], shape) : NULL;
}

struct runner_ctx *runner_ctx_new(const struct runner_model *m)
{
	struct runner_ctx *c = malloc(sizeof(*c));
	if (!c)
		return NULL;
	c->m = m;
	c->arena = aligned_alloc(ARENA_ALIGN, m->arena + m->scratch + ARENA_ALIGN);
	if (!c->arena) {
		free(c);
		return NULL;
	}
	return c;
}

void runner_ctx_free(struct runner_ctx *c)
{
	if (!c)
		return;
	free(c->arena);
	free(c);
}

static int check_input(const struct rval *v, const struct runner_tensor *t, struct rprep *e)
{
	if (t->dtype != v->dtype)
		return rerr(e, RUNNER_EINVAL, "input %s: type %d, expected %d", v->name, t->dtype, v->dtype);
	if (t->ndim != v->ndim)
		return rerr(e, RUNNER_EINVAL, "input %s: rank %d, expected %d", v->name, t->ndim, v->ndim);
	for (int d = 0; d < v->ndim; d++)
		if (t->dims[d] != v->dims[d])
			return rerr(e, RUNNER_EINVAL, "input %s: dims[%d] is %lld, expected %lld", v->name, d,
				    (long long)t->dims[d], (long long)v->dims[d]);
	if (!t->data && v->nbytes)
		return rerr(e, RUNNER_EINVAL, "input %s: no data", v->name);
	return 0;
}

int runner_run(struct runner_ctx *c, const struct runner_tensor *inputs, size_t ninputs,
	       struct runner_tensor *outputs, size_t noutputs, struct runner_err *err)
{
	const struct runner_model *m = c->m;
	struct rprep e = {.err = err};
	if (ninputs != (size_t)m->ninputs || noutputs < (size_t)m->noutputs)
		return rerr(&e, RUNNER_EINVAL, "inputs: %zu given, model has %d", ninputs, m->ninputs);
	for (int i = 0; i < m->ninputs; i++) {
		const struct rval *v = &m->vals[m->inputs[i]];
		int rc = check_input(v, &inputs[i], &e);
		if (rc)
			return rc;
		if (v->nbytes)
			memcpy(c->arena + v->off, inputs[i].data, v->nbytes);
	}
	void *scratch = c->arena + m->arena;
	for (int i = 0; i < m->nnodes; i++) {
		const struct rnode *n = &m->nodes[i];
		struct runner_tensor in[ROP_MAX_IN], out[ROP_MAX_OUT];
		for (int j = 0; j < n->nin; j++) {
			if (n->in[j] >= 0)
				view(m, c->arena, n->in[j], &in[j]);
			else
				memset(&in[j], 0, sizeof(in[j]));
		}
		for (int j = 0; j < n->nout; j++) {
			if (n->out[j] >= 0)
				view(m, c->arena, n->out[j], &out[j]);
			else
				memset(&out[j], 0, sizeof(out[j]));
		}
		n->op->run(n, in, out, scratch);
	}
	for (int i = 0; i < m->noutputs; i++)
		view(m, c->arena, m->outputs[i], &outputs[i]);
	return 0;
}
