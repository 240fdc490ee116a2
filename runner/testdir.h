/*
 * testdir.h - runs one ONNX backend test directory (model.onnx and
 * test_data_set_N/{input,output}_K.pb) through the runner and compares the
 * outputs with ONNX's backend tolerance (rtol 1e-3, atol 1e-7; integers exact).
 */
#ifndef RAMP_RUNNER_TESTDIR_H
#define RAMP_RUNNER_TESTDIR_H

#include <stddef.h>

/* Writes the model's distinct operator types, comma-separated, into buf and
 * returns 1 if the runner implements all of them, 0 if not, negative if the
 * model cannot be read. */
int testdir_claimed(const char *dir, char *buf, size_t len);

/* Runs every data set of dir.  Returns 0 when every output matches, 1 on a
 * mismatch, or a negative RUNNER_E* code when the model or data cannot be
 * loaded; why receives the reason in either failing case. */
int testdir_run(const char *dir, char *why, size_t whylen);

#endif
