/*
 * runner.h - ramp-runner's inference engine: load an ONNX model once, then run
 * it from any number of threads.
 *
 * A struct runner_model is immutable after runner_model_load(): the graph is
 * checked, every shape inferred and one arena laid out for all intermediate
 * tensors.  Each thread that runs the model owns a struct runner_ctx holding
 * that arena, so runner_run() allocates nothing.
 */
#ifndef RAMP_RUNNER_H
#define RAMP_RUNNER_H

#include <stddef.h>
#include <stdint.h>

#define RUNNER_MAX_DIMS 8

/* Element types, numbered as ONNX's TensorProto.DataType. */
enum runner_dtype {
	RUNNER_FLOAT = 1,
	RUNNER_UINT8 = 2,
	RUNNER_INT8 = 3,
	RUNNER_INT32 = 6,
	RUNNER_INT64 = 7,
};

/* Error codes: 0 on success, one of these (negative) otherwise. */
enum {
	RUNNER_EINVAL = -1,	 /* the model or a tensor is malformed */
	RUNNER_EUNSUPPORTED = -2, /* well-formed, but an operator/type/attribute we do not run */
	RUNNER_ENOMEM = -3,
	RUNNER_EIO = -4,
};

struct runner_err {
	int code;
	char msg[256];
};

/* A tensor view: shape, type and a pointer to data the caller or the runner owns. */
struct runner_tensor {
	int dtype;
	int ndim;
	int64_t dims[RUNNER_MAX_DIMS];
	void *data;
};

struct runner_model;
struct runner_ctx;

/* A value the caller pins at load time: the loader treats it as a constant
 * (used for shape inputs such as Reshape's, which must be known to plan memory). */
struct runner_fixed {
	const char *name;
	const struct runner_tensor *value;
};

/* Loads a model from a serialized ModelProto.  Returns NULL and fills *err on
 * failure (unsupported operators, external data, unknown inputs, bad shapes...).
 * The caller frees the model with runner_model_free() after every ctx is freed. */
struct runner_model *runner_model_load(const void *buf, size_t len, const struct runner_fixed *fixed,
				       size_t nfixed, struct runner_err *err);
/* Like runner_model_load() on a file's contents. */
struct runner_model *runner_model_load_file(const char *path, const struct runner_fixed *fixed,
					    size_t nfixed, struct runner_err *err);
void runner_model_free(struct runner_model *m);

/* Graph inputs (excluding initializers and fixed values) and outputs, with shapes. */
size_t runner_model_ninputs(const struct runner_model *m);
size_t runner_model_noutputs(const struct runner_model *m);
/* Name and shape (data == NULL) of input/output i; NULL when out of range. */
const char *runner_model_input(const struct runner_model *m, size_t i, struct runner_tensor *shape);
const char *runner_model_output(const struct runner_model *m, size_t i, struct runner_tensor *shape);
/* Bytes of the arena one ctx holds. */
size_t runner_model_arena_bytes(const struct runner_model *m);

/* A per-thread inference context (one allocation).  NULL on out of memory. */
struct runner_ctx *runner_ctx_new(const struct runner_model *m);
void runner_ctx_free(struct runner_ctx *c);

/* Runs the model: inputs[i] must match input i's type and shape exactly.
 * On success outputs[i] point into the ctx's arena, valid until the next run
 * on that ctx.  Returns 0 or RUNNER_EINVAL (with *err filled) on a bad input. */
int runner_run(struct runner_ctx *c, const struct runner_tensor *inputs, size_t ninputs,
	       struct runner_tensor *outputs, size_t noutputs, struct runner_err *err);

/* Number of elements of t; bytes per element of a dtype (0 if unsupported). */
size_t runner_numel(const struct runner_tensor *t);
size_t runner_dtype_size(int dtype);

/* Parses a serialized TensorProto into *t (t->data malloc'd, the caller frees
 * it) and, when name is not NULL, its name into a malloc'd string.  External
 * data and unsupported types are refused.  Returns 0 or an error code. */
int runner_tensor_parse(const void *buf, size_t len, struct runner_tensor *t, char **name,
			struct runner_err *err);

/* The operators this runner executes, NULL-terminated, sorted by name. */
const char *const *runner_ops(void);

#endif
