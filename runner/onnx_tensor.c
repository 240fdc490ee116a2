/*
 * onnx_tensor.c - TensorProto and AttributeProto decoding for the runner.
 *
 * Tensors come either as raw little-endian bytes (raw_data) or in the typed
 * repeated fields (float_data, int32_data for every type of 32 bits or less,
 * int64_data).  Data stored in an external file is refused: a model must be a
 * single verified artifact.
 */
#include "onnx_pb.h"
#include "ops.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rerr(struct rprep *p, int code, const char *fmt, ...)
{
	va_list ap;
	if (p && p->err) {
		va_start(ap, fmt);
		p->err->code = code;
		vsnprintf(p->err->msg, sizeof(p->err->msg), fmt, ap);
		va_end(ap);
	}
	return code;
}

size_t runner_dtype_size(int dtype)
{
	switch (dtype) {
	case RUNNER_FLOAT: case RUNNER_INT32: return 4;
	case RUNNER_UINT8: case RUNNER_INT8: return 1;
	case RUNNER_INT64: return 8;
	default: return 0;
	}
}

size_t runner_numel(const struct runner_tensor *t)
{
	size_t n = 1;
	for (int i = 0; i < t->ndim; i++)
		n *= (size_t)t->dims[i];
	return n;
}

/* Copies the typed field of tp into dst (n elements of dtype); 0 or error. */
static int tensor_typed(const Onnx__TensorProto *tp, int dtype, size_t n, void *dst,
			struct rprep *e, const char *name)
{
	size_t have;
	switch (dtype) {
	case RUNNER_FLOAT:
		have = tp->n_float_data;
		if (have == n && n)
			memcpy(dst, tp->float_data, n * 4);
		break;
	case RUNNER_INT64:
		have = tp->n_int64_data;
		if (have == n && n)
			memcpy(dst, tp->int64_data, n * 8);
		break;
	case RUNNER_INT32:
		have = tp->n_int32_data;
		if (have == n && n)
			memcpy(dst, tp->int32_data, n * 4);
		break;
	default: /* int8/uint8 live widened in int32_data */
		have = tp->n_int32_data;
		for (size_t i = 0; have == n && i < n; i++)
			((uint8_t *)dst)[i] = (uint8_t)tp->int32_data[i];
		break;
	}
	if (have != n)
		return rerr(e, RUNNER_EINVAL, "tensor %s: %zu values for %zu elements", name, have, n);
	return 0;
}

/* Decodes tp into a shape and a malloc'd buffer; 0 or an error in e. */
static int tensor_decode(const Onnx__TensorProto *tp, struct runner_tensor *t, struct rprep *e)
{
	const char *name = tp->name ? tp->name : "(unnamed)";
	memset(t, 0, sizeof(*t));
	if (tp->n_external_data > 0 ||
	    (tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL))
		return rerr(e, RUNNER_EUNSUPPORTED,
			    "tensor %s: external data is not supported (embed it in the model)", name);
	if (tp->segment)
		return rerr(e, RUNNER_EUNSUPPORTED, "tensor %s: segmented tensors are not supported", name);
	t->dtype = tp->data_type;
	size_t es = runner_dtype_size(t->dtype);
	if (es == 0)
		return rerr(e, RUNNER_EUNSUPPORTED, "tensor %s: data type %d is not supported", name,
			    (int)t->dtype);
	if (tp->n_dims > RUNNER_MAX_DIMS)
		return rerr(e, RUNNER_EUNSUPPORTED, "tensor %s: more than %d dimensions", name,
			    RUNNER_MAX_DIMS);
	t->ndim = (int)tp->n_dims;
	size_t n = 1;
	for (int i = 0; i < t->ndim; i++) {
		if (tp->dims[i] < 0 || (tp->dims[i] > 0 && n > ((size_t)1 << 40) / (size_t)tp->dims[i]))
			return rerr(e, RUNNER_EINVAL, "tensor %s: dims[%d] is out of range", name, i);
		t->dims[i] = tp->dims[i];
		n *= (size_t)tp->dims[i];
	}
	t->data = malloc(n * es + 1);
	if (!t->data)
		return rerr(e, RUNNER_ENOMEM, "tensor %s: out of memory", name);
	int rc = 0;
	if (tp->has_raw_data) {
		if (tp->raw_data.len != n * es)
			rc = rerr(e, RUNNER_EINVAL, "tensor %s: raw_data has %zu bytes, expected %zu", name,
				  tp->raw_data.len, n * es);
		else if (n)
			memcpy(t->data, tp->raw_data.data, n * es);
	} else {
		rc = tensor_typed(tp, t->dtype, n, t->data, e, name);
	}
	if (rc) {
		free(t->data);
		t->data = NULL;
	}
	return rc;
}

int runner_tensor_parse(const void *buf, size_t len, struct runner_tensor *t, char **name,
			struct runner_err *err)
{
	struct rprep e = {.err = err};
	Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, len, buf);
	if (!tp)
		return rerr(&e, RUNNER_EINVAL, "tensor: not a valid TensorProto");
	int rc = tensor_decode(tp, t, &e);
	if (rc == 0 && name) {
		*name = strdup(tp->name ? tp->name : "");
		if (!*name) {
			free(t->data);
			rc = rerr(&e, RUNNER_ENOMEM, "tensor: out of memory");
		}
	}
	onnx__tensor_proto__free_unpacked(tp, NULL);
	return rc;
}

/* Fills a constant value from a TensorProto (initializers, Constant). */
int rval_from_proto(const Onnx__TensorProto *tp, struct rval *v, struct rprep *e)
{
	struct runner_tensor t;
	int rc = tensor_decode(tp, &t, e);
	if (rc)
		return rc;
	rval_set(v, t.dtype, t.ndim, t.dims);
	v->kind = RVAL_CONST;
	v->data = t.data;
	return 0;
}

static const Onnx__AttributeProto *attr_find(const struct rprep *p, const char *name)
{
	const Onnx__NodeProto *np = p->proto;
	for (size_t i = 0; i < np->n_attribute; i++)
		if (np->attribute[i]->name && strcmp(np->attribute[i]->name, name) == 0)
			return np->attribute[i];
	return NULL;
}

bool attr_has(const struct rprep *p, const char *name)
{
	return attr_find(p, name) != NULL;
}

int64_t attr_int(const struct rprep *p, const char *name, int64_t dflt)
{
	const Onnx__AttributeProto *a = attr_find(p, name);
	return a && a->has_i ? a->i : dflt;
}

float attr_float(const struct rprep *p, const char *name, float dflt)
{
	const Onnx__AttributeProto *a = attr_find(p, name);
	return a && a->has_f ? a->f : dflt;
}

int attr_ints(const struct rprep *p, const char *name, int64_t *out, int max)
{
	const Onnx__AttributeProto *a = attr_find(p, name);
	if (!a)
		return -1;
	for (size_t i = 0; i < a->n_ints && (int)i < max; i++)
		out[i] = a->ints[i];
	return (int)a->n_ints;
}

const char *attr_str(const struct rprep *p, const char *name, const char *dflt)
{
	static _Thread_local char buf[64];
	const Onnx__AttributeProto *a = attr_find(p, name);
	if (!a || !a->has_s)
		return dflt;
	size_t n = a->s.len < sizeof(buf) - 1 ? a->s.len : sizeof(buf) - 1;
	if (n)
		memcpy(buf, a->s.data, n);
	buf[n] = 0;
	return buf;
}

int attr_tensor(struct rprep *p, const char *name, struct rval *v)
{
	const Onnx__AttributeProto *a = attr_find(p, name);
	if (!a || !a->t)
		return rerr(p, RUNNER_EUNSUPPORTED, "attribute %s: a tensor value is required", name);
	return rval_from_proto(a->t, v, p);
}
