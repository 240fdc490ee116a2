/*
 * ops.h - the runner's internal operator interface, shared by the loader
 * (onnx_load.c) and the kernels (ops_*.c).
 *
 * Each operator has a prep function, called once at load, that reads the
 * node's attributes, checks its inputs, infers output types and shapes and
 * says how much scratch memory its kernel needs; and a run function, called on
 * every inference, that only computes (no allocation, no failure).
 */
#ifndef RAMP_RUNNER_OPS_H
#define RAMP_RUNNER_OPS_H

#include "runner.h"

#include <stdbool.h>

#define ROP_MAX_IN 16
#define ROP_MAX_OUT 4
#define ROP_PARAMS 640

enum rval_kind { RVAL_CONST, RVAL_INPUT, RVAL_TEMP };

/* One named value of the graph. */
struct rval {
	char *name;
	int kind;
	int dtype;
	int ndim;
	int64_t dims[RUNNER_MAX_DIMS];
	size_t nbytes;
	void *data;  /* RVAL_CONST: owned copy; otherwise NULL */
	size_t off;  /* RVAL_INPUT/RVAL_TEMP: offset in the arena */
	int def;     /* index of the node producing it, -1 for constants and inputs */
	int last;    /* index of the last node reading it (graph outputs: nnodes) */
	bool known;  /* produced so far while walking the graph */
};

struct rop;

/* One node, ready to run. */
struct rnode {
	const struct rop *op;
	int nin, nout;
	int in[ROP_MAX_IN];   /* value index, -1 for an omitted optional input */
	int out[ROP_MAX_OUT]; /* value index, -1 for an omitted optional output */
	size_t scratch;       /* bytes of scratch the kernel needs */
	_Alignas(16) unsigned char params[ROP_PARAMS];
};

/* What prep sees: the node, its inputs (NULL when omitted), its outputs to fill. */
struct rprep {
	const void *proto; /* Onnx__NodeProto, read through the attr_* helpers */
	int64_t opset;     /* opset version of the default domain */
	int nin, nout;
	struct rval *in[ROP_MAX_IN];
	struct rval *out[ROP_MAX_OUT];
	struct rnode *node;
	struct runner_err *err;
};

struct rop {
	const char *name;
	int (*prep)(struct rprep *p);
	void (*run)(const struct rnode *n, const struct runner_tensor *in, struct runner_tensor *out,
		    void *scratch);
};

/* Operator tables of each kernel file, terminated by {0}. */
extern const struct rop rops_elem[], rops_shape[], rops_linalg[], rops_pool[], rops_quant[];

/* Attribute readers (onnx_load.c).  Absent attributes give the default. */
int64_t attr_int(const struct rprep *p, const char *name, int64_t dflt);
float attr_float(const struct rprep *p, const char *name, float dflt);
/* Copies up to max ints into out; returns how many the attribute has, -1 if absent. */
int attr_ints(const struct rprep *p, const char *name, int64_t *out, int max);
/* The string attribute, or dflt; never NULL. */
const char *attr_str(const struct rprep *p, const char *name, const char *dflt);
/* Fills *v from a tensor attribute (Constant's value); returns 0 or an error. */
int attr_tensor(struct rprep *p, const char *name, struct rval *v);
bool attr_has(const struct rprep *p, const char *name);

/* Fills p->err and returns code. */
int rerr(struct rprep *p, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Helpers for prep. */
size_t rval_numel(const struct rval *v);
void rval_set(struct rval *v, int dtype, int ndim, const int64_t *dims);
/* Requires input i present with dtype (0 = any); returns 0 or an error. */
int prep_need(struct rprep *p, int i, int dtype);
/* numpy broadcasting of a and b into out; returns 0 or an error. */
int prep_broadcast(struct rprep *p, const struct rval *a, const struct rval *b, int *ndim,
		   int64_t *dims);
/* Convolution and pooling geometry, normalized to 3 spatial axes (missing
 * leading axes have size 1, kernel 1, stride 1, no padding). */
struct conv_geom {
	int nsp;	/* spatial rank of the model's tensors (1..3) */
	int64_t n, c;	/* batch, input channels */
	int64_t in[3], k[3], out[3], s[3], d[3], pb[3], pe[3];
};
/* Fills g for input x and a kernel of nsp spatial sizes from the node's
 * strides/dilations/pads/auto_pad attributes; 0 or an error. */
int conv_geom_prep(struct rprep *p, const struct rval *x, const int64_t *kernel, int nsp,
		   int ceil_mode, struct conv_geom *g);
/* Output shape dims (n, channels, spatial...) of g into dims; returns the rank. */
int conv_geom_dims(const struct conv_geom *g, int64_t channels, int64_t *dims);
/* Spatial output positions of g. */
int64_t conv_geom_npos(const struct conv_geom *g);
/* im2col of one image's channels [c0, c0+nc) into col[(c, kd, kh, kw), pos]; padding reads pad. */
void conv_im2col_f32(const struct conv_geom *g, const float *x, int64_t nc, float *col);
/* C[M,N] += A[M,K] B[K,N], row-major with leading dimensions (gemm.c). */
void sgemm_acc(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b,
	       int64_t ldb, float *c, int64_t ldc);
/* C[M,N] += A[M,K] B[N,K]^T: B's rows are the columns of the product (gemm.c). */
void sgemm_nt_acc(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b,
		  int64_t ldb, float *c, int64_t ldc);

/* Normalizes a possibly negative axis against rank; -1 if out of range. */
int norm_axis(int64_t axis, int rank);

#endif
