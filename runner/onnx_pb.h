/*
 * onnx_pb.h - the protobuf-c code generated from Debian's onnx.proto at build
 * time (into $(BUILD)/gen), plus the loader's TensorProto decoder.
 */
#ifndef RAMP_RUNNER_ONNX_PB_H
#define RAMP_RUNNER_ONNX_PB_H

#include "onnx.pb-c.h"
#include "ops.h"

/* Makes v a constant holding tp's data (malloc'd, v owns it); 0 or an error in e. */
int rval_from_proto(const Onnx__TensorProto *tp, struct rval *v, struct rprep *e);

#endif
