/*
 * test_runner_kernels.c - ramp-runner's loader and kernels on tiny models
 * built here with protobuf-c, checked against answers computed by hand.
 */
#include "../unit/unit.h"
#include "onnx_pb.h"

#include <pthread.h>

/* A one-node graph under construction; everything lives in static storage
 * or in the struct, so tests pack it and forget it. */
struct tmodel {
	Onnx__ModelProto model;
	Onnx__GraphProto graph;
	Onnx__OperatorSetIdProto opset;
	Onnx__OperatorSetIdProto *opsets[1];
	Onnx__NodeProto nodes[8];
	Onnx__NodeProto *nodep[8];
	Onnx__AttributeProto attrs[8];
	Onnx__AttributeProto *attrp[8][8];
	Onnx__TensorProto inits[8];
	Onnx__TensorProto *initp[8];
	Onnx__ValueInfoProto vis[8];
	Onnx__ValueInfoProto *inp[8], *outp[8];
	Onnx__TypeProto types[8];
	Onnx__TypeProto__Tensor ttypes[8];
	Onnx__TensorShapeProto shapes[8];
	Onnx__TensorShapeProto__Dimension dims[8][4];
	Onnx__TensorShapeProto__Dimension *dimp[8][4];
	int nattr;
	int nvis;
};

static void tm_init(struct tmodel *t)
{
	memset(t, 0, sizeof(*t));
	onnx__model_proto__init(&t->model);
	onnx__graph_proto__init(&t->graph);
	onnx__operator_set_id_proto__init(&t->opset);
	t->opset.domain = "";
	t->opset.has_version = 1;
	t->opset.version = 13;
	t->opsets[0] = &t->opset;
	t->model.n_opset_import = 1;
	t->model.opset_import = t->opsets;
	t->model.has_ir_version = 1;
	t->model.ir_version = 8;
	t->model.graph = &t->graph;
	t->graph.name = "g";
	t->graph.node = t->nodep;
	t->graph.initializer = t->initp;
	t->graph.input = t->inp;
	t->graph.output = t->outp;
}

static Onnx__ValueInfoProto *tm_vi(struct tmodel *t, const char *name, int64_t d0, int64_t d1)
{
	int i = t->nvis++;
	Onnx__ValueInfoProto *v = &t->vis[i];
	onnx__value_info_proto__init(v);
	onnx__type_proto__init(&t->types[i]);
	onnx__type_proto__tensor__init(&t->ttypes[i]);
	onnx__tensor_shape_proto__init(&t->shapes[i]);
	int64_t d[2] = {d0, d1};
	for (int k = 0; k < 2; k++) {
		onnx__tensor_shape_proto__dimension__init(&t->dims[i][k]);
		t->dims[i][k].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
		t->dims[i][k].dim_value = d[k];
		t->dimp[i][k] = &t->dims[i][k];
	}
	t->shapes[i].n_dim = 2;
	t->shapes[i].dim = t->dimp[i];
	t->ttypes[i].has_elem_type = 1;
	t->ttypes[i].elem_type = RUNNER_FLOAT;
	t->ttypes[i].shape = &t->shapes[i];
	t->types[i].value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
	t->types[i].tensor_type = &t->ttypes[i];
	v->name = (char *)name;
	v->type = &t->types[i];
	return v;
}

static void tm_input(struct tmodel *t, const char *name, int64_t d0, int64_t d1)
{
	t->inp[t->graph.n_input++] = tm_vi(t, name, d0, d1);
}

static void tm_output(struct tmodel *t, const char *name, int64_t d0, int64_t d1)
{
	t->outp[t->graph.n_output++] = tm_vi(t, name, d0, d1);
}

/* A float initializer of shape (d0, d1) in float_data. */
static Onnx__TensorProto *tm_init_f(struct tmodel *t, const char *name, int64_t *dims, size_t ndim,
				    float *data, size_t n)
{
	Onnx__TensorProto *p = &t->inits[t->graph.n_initializer];
	onnx__tensor_proto__init(p);
	p->name = (char *)name;
	p->n_dims = ndim;
	p->dims = dims;
	p->has_data_type = 1;
	p->data_type = RUNNER_FLOAT;
	p->n_float_data = n;
	p->float_data = data;
	t->initp[t->graph.n_initializer++] = p;
	return p;
}

static Onnx__NodeProto *tm_node(struct tmodel *t, const char *op, char **in, size_t nin, char **out,
				size_t nout)
{
	size_t i = t->graph.n_node++;
	Onnx__NodeProto *n = &t->nodes[i];
	onnx__node_proto__init(n);
	n->op_type = (char *)op;
	n->input = in;
	n->n_input = nin;
	n->output = out;
	n->n_output = nout;
	n->attribute = t->attrp[i];
	t->nodep[i] = n;
	return n;
}

static void tm_attr_i(struct tmodel *t, Onnx__NodeProto *n, const char *name, int64_t v)
{
	Onnx__AttributeProto *a = &t->attrs[t->nattr++];
	onnx__attribute_proto__init(a);
	a->name = (char *)name;
	a->has_type = 1;
	a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
	a->has_i = 1;
	a->i = v;
	n->attribute[n->n_attribute++] = a;
}

/* Packs and loads t; NULL with err filled on refusal. */
static struct runner_model *tm_load(struct tmodel *t, struct runner_err *err)
{
	size_t len = onnx__model_proto__get_packed_size(&t->model);
	unsigned char *buf = malloc(len + 1);
	onnx__model_proto__pack(&t->model, buf);
	struct runner_model *m = runner_model_load(buf, len, NULL, 0, err);
	free(buf);
	return m;
}

static struct runner_tensor tensor2(float *data, int64_t d0, int64_t d1)
{
	struct runner_tensor x = {.dtype = RUNNER_FLOAT, .ndim = 2, .dims = {d0, d1}, .data = data};
	return x;
}

/* Runs a one-input model and frees it; returns output 0, its data copied
 * into a static buffer. */
static struct runner_tensor run1(struct runner_model *m, struct runner_tensor x)
{
	static float out[4096];
	struct runner_ctx *c = runner_ctx_new(m);
	struct runner_tensor y[4] = {0};
	struct runner_err err = {0};
	CHECK(runner_run(c, &x, 1, y, 4, &err) == 0);
	size_t n = runner_numel(&y[0]) * runner_dtype_size(y[0].dtype);
	CHECK(n <= sizeof(out));
	memcpy(out, y[0].data, n <= sizeof(out) ? n : 0);
	y[0].data = out;
	runner_ctx_free(c);
	runner_model_free(m);
	return y[0];
}

static char *s_x[] = {"x"}, *s_y[] = {"y"}, *s_xw[] = {"x", "w"}, *s_xwb[] = {"x", "w", "b"};

static void gemm_with_transposed_b_and_bias_matches_hand_product(void)
{
	struct tmodel t;
	struct runner_err err = {0};
	tm_init(&t);
	static int64_t wd[2] = {2, 2}, bd[1] = {2};
	static float w[4] = {5, 7, 6, 8}, b[2] = {1, -1}; /* w is B transposed: B = [[5,6],[7,8]] */
	tm_input(&t, "x", 2, 2);
	tm_output(&t, "y", 2, 2);
	tm_init_f(&t, "w", wd, 2, w, 4);
	tm_init_f(&t, "b", bd, 1, b, 2);
	tm_attr_i(&t, tm_node(&t, "Gemm", s_xwb, 3, s_y, 1), "transB", 1);
	struct runner_model *m = tm_load(&t, &err);
	CHECK(m != NULL);
	float x[4] = {1, 2, 3, 4};
	float *y = run1(m, tensor2(x, 2, 2)).data;
	/* [[1*5+2*7, 1*6+2*8], [3*5+4*7, 3*6+4*8]] + [1, -1] */
	CHECK_NEAR(y[0], 20, 0);
	CHECK_NEAR(y[1], 21, 0);
	CHECK_NEAR(y[2], 44, 0);
	CHECK_NEAR(y[3], 49, 0);
}

static void add_broadcasts_a_row_over_every_row(void)
{
	struct tmodel t;
	struct runner_err err = {0};
	tm_init(&t);
	static int64_t wd[1] = {3};
	static float w[3] = {10, 20, 30};
	tm_input(&t, "x", 2, 3);
	tm_output(&t, "y", 2, 3);
	tm_init_f(&t, "w", wd, 1, w, 3);
	tm_node(&t, "Add", s_xw, 2, s_y, 1);
	struct runner_model *m = tm_load(&t, &err);
	CHECK(m != NULL);
	float x[6] = {1, 2, 3, 4, 5, 6};
	float *y = run1(m, tensor2(x, 2, 3)).data;
	float want[6] = {11, 22, 33, 14, 25, 36};
	for (int i = 0; i < 6; i++)
		CHECK_NEAR(y[i], want[i], 0);
}

static void softmax_of_zero_and_log3_is_quarter_and_three_quarters(void)
{
	struct tmodel t;
	struct runner_err err = {0};
	tm_init(&t);
	tm_input(&t, "x", 1, 2);
	tm_output(&t, "y", 1, 2);
	tm_node(&t, "Softmax", s_x, 1, s_y, 1);
	struct runner_model *m = tm_load(&t, &err);
	CHECK(m != NULL);
	float x[2] = {0, logf(3)};
	float *y = run1(m, tensor2(x, 1, 2)).data;
	CHECK_NEAR(y[0], 0.25, 1e-6);
	CHECK_NEAR(y[1], 0.75, 1e-6);
}

static void conv_sums_each_2x2_window(void)
{
	struct tmodel t;
	struct runner_err err = {0};
	tm_init(&t);
	static int64_t wd[4] = {1, 1, 2, 2};
	static float w[4] = {1, 1, 1, 1};
	tm_input(&t, "x", 3, 3); /* reshaped below to (1, 1, 3, 3) */
	t.shapes[0].n_dim = 4;
	for (int k = 0; k < 4; k++) {
		onnx__tensor_shape_proto__dimension__init(&t.dims[0][k]);
		t.dims[0][k].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
		t.dims[0][k].dim_value = k < 2 ? 1 : 3;
		t.dimp[0][k] = &t.dims[0][k];
	}
	tm_output(&t, "y", 2, 2);
	tm_init_f(&t, "w", wd, 4, w, 4);
	tm_node(&t, "Conv", s_xw, 2, s_y, 1);
	struct runner_model *m = tm_load(&t, &err);
	CHECK(m != NULL);
	float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
	struct runner_tensor xt = {.dtype = RUNNER_FLOAT, .ndim = 4, .dims = {1, 1, 3, 3}, .data = x};
	struct runner_tensor y = run1(m, xt);
	CHECK_EQ_INT(y.ndim, 4);
	CHECK_EQ_INT(y.dims[2], 2);
	float *yd = y.data;
	CHECK_NEAR(yd[0], 12, 0);
	CHECK_NEAR(yd[1], 16, 0);
	CHECK_NEAR(yd[2], 24, 0);
	CHECK_NEAR(yd[3], 28, 0);
}

static void loader_refuses_external_data_naming_the_tensor(void)
{
	struct tmodel t;
	struct runner_err err = {0};
	tm_init(&t);
	static int64_t wd[1] = {3};
	static float w[3] = {1, 2, 3};
	tm_input(&t, "x", 1, 3);
	tm_output(&t, "y", 1, 3);
	Onnx__TensorProto *p = tm_init_f(&t, "w", wd, 1, w, 0);
	p->has_data_location = 1;
	p->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
	tm_node(&t, "Add", s_xw, 2, s_y, 1);
	CHECK(tm_load(&t, &err) == NULL);
	CHECK_EQ_INT(err.code, RUNNER_EUNSUPPORTED);
	CHECK(strstr(err.msg, "tensor w: external data") != NULL);
}

static void loader_refuses_a_graph_out_of_topological_order(void)
{
	struct tmodel t;
	struct runner_err err = {0};
	static char *s_h[] = {"h"};
	tm_init(&t);
	tm_input(&t, "x", 1, 3);
	tm_output(&t, "y", 1, 3);
	tm_node(&t, "Relu", s_h, 1, s_y, 1); /* reads h before it is made */
	tm_node(&t, "Relu", s_x, 1, s_h, 1);
	CHECK(tm_load(&t, &err) == NULL);
	CHECK_EQ_INT(err.code, RUNNER_EINVAL);
	CHECK(strstr(err.msg, "input h is produced by a later node") != NULL);
}

static void loader_refuses_an_input_nothing_produces(void)
{
	struct tmodel t;
	struct runner_err err = {0};
	tm_init(&t);
	tm_input(&t, "x", 1, 3);
	tm_output(&t, "y", 1, 3);
	tm_node(&t, "Add", s_xw, 2, s_y, 1);
	CHECK(tm_load(&t, &err) == NULL);
	CHECK(strstr(err.msg, "input w is not produced") != NULL);
}

static void loader_refuses_an_unsupported_operator_by_name(void)
{
	struct tmodel t;
	struct runner_err err = {0};
	tm_init(&t);
	tm_input(&t, "x", 1, 3);
	tm_output(&t, "y", 1, 3);
	tm_node(&t, "Hardmax", s_x, 1, s_y, 1);
	CHECK(tm_load(&t, &err) == NULL);
	CHECK_EQ_INT(err.code, RUNNER_EUNSUPPORTED);
	CHECK(strstr(err.msg, "operator Hardmax is not supported") != NULL);
}

static void loader_refuses_garbage_bytes(void)
{
	struct runner_err err = {0};
	CHECK(runner_model_load("\xff\xff\xff\xff", 4, NULL, 0, &err) == NULL);
	CHECK_EQ_INT(err.code, RUNNER_EINVAL);
}

/* x -> Relu -> a -> Relu -> b -> Relu -> c -> Relu -> y */
static struct runner_model *relu_chain(void)
{
	static struct tmodel t;
	static char *s_a[] = {"a"}, *s_b[] = {"b"}, *s_c[] = {"c"};
	struct runner_err err = {0};
	tm_init(&t);
	tm_input(&t, "x", 1, 1024);
	tm_output(&t, "y", 1, 1024);
	tm_node(&t, "Relu", s_x, 1, s_a, 1);
	tm_node(&t, "Relu", s_a, 1, s_b, 1);
	tm_node(&t, "Relu", s_b, 1, s_c, 1);
	tm_node(&t, "Relu", s_c, 1, s_y, 1);
	return tm_load(&t, &err);
}

static void plan_reuses_memory_of_dead_intermediates(void)
{
	struct runner_model *m = relu_chain();
	CHECK(m != NULL);
	/* five 4 KiB values, but at most two are alive at once besides x */
	CHECK(runner_model_arena_bytes(m) <= 3 * 4096);
	float x[1024];
	for (int i = 0; i < 1024; i++)
		x[i] = (float)(i % 7) - 3;
	float *y = run1(m, tensor2(x, 1, 1024)).data;
	for (int i = 0; i < 1024; i++)
		CHECK_NEAR(y[i], x[i] > 0 ? x[i] : 0, 0);
}

static void run_refuses_an_input_of_the_wrong_shape(void)
{
	struct runner_model *m = relu_chain();
	struct runner_ctx *c = runner_ctx_new(m);
	struct runner_tensor y[1];
	struct runner_err err = {0};
	float x[512] = {0};
	struct runner_tensor bad = tensor2(x, 1, 512);
	CHECK_EQ_INT(runner_run(c, &bad, 1, y, 1, &err), RUNNER_EINVAL);
	CHECK(strstr(err.msg, "input x: dims[1] is 512, expected 1024") != NULL);
	runner_ctx_free(c);
	runner_model_free(m);
}

struct worker {
	const struct runner_model *m;
	float base;
	int bad;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct runner_ctx *c = runner_ctx_new(w->m);
	float x[1024];
	for (int it = 0; it < 200; it++) {
		for (int i = 0; i < 1024; i++)
			x[i] = w->base + (float)it;
		struct runner_tensor in = tensor2(x, 1, 1024), y[1];
		struct runner_err err;
		if (runner_run(c, &in, 1, y, 1, &err) != 0 || ((float *)y[0].data)[1023] != x[1023])
			w->bad++;
	}
	runner_ctx_free(c);
	return NULL;
}

static void one_model_serves_threads_with_their_own_contexts(void)
{
	struct runner_model *m = relu_chain();
	struct worker w[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){m, 1000.0f * (float)(i + 1), 0};
		pthread_create(&th[i], NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ_INT(w[i].bad, 0);
	}
	runner_model_free(m);
}

static void ops_lists_every_claimed_operator_sorted(void)
{
	const char *const *ops = runner_ops();
	int n = 0;
	for (; ops[n]; n++)
		if (n > 0)
			CHECK(strcmp(ops[n - 1], ops[n]) < 0);
	CHECK_EQ_INT(n, 27);
	CHECK_EQ_STR(ops[0], "Add");
}

static const struct unit_case cases[] = {
	UNIT(gemm_with_transposed_b_and_bias_matches_hand_product),
	UNIT(add_broadcasts_a_row_over_every_row),
	UNIT(softmax_of_zero_and_log3_is_quarter_and_three_quarters),
	UNIT(conv_sums_each_2x2_window),
	UNIT(loader_refuses_external_data_naming_the_tensor),
	UNIT(loader_refuses_a_graph_out_of_topological_order),
	UNIT(loader_refuses_an_input_nothing_produces),
	UNIT(loader_refuses_an_unsupported_operator_by_name),
	UNIT(loader_refuses_garbage_bytes),
	UNIT(plan_reuses_memory_of_dead_intermediates),
	UNIT(run_refuses_an_input_of_the_wrong_shape),
	UNIT(one_model_serves_threads_with_their_own_contexts),
	UNIT(ops_lists_every_claimed_operator_sorted),
	{0},
};

UNIT_MAIN(cases)
