/*
 * shadow.h - a shadow stage's candidate run beside the served model
 * (docs/judge.md "Shadow runs"), off the request path.
 *
 * A request thread that answered from the served model offers its inputs and
 * its answer (shadow_offer): with probability shadow_fraction they go into a
 * bounded queue (the inputs handed over, the first output copied), else
 * nothing happens. One worker thread runs the candidate on queued requests
 * and compares: top-1 class and its confidence (classifiers), the mean
 * absolute difference of the first outputs, the candidate's latency. A full
 * queue drops the offer and counts it. shadow_collect adds the interval's
 * figures as the served report's "shadow" block.
 */
#ifndef RAMP_RUNNER_SHADOW_H
#define RAMP_RUNNER_SHADOW_H

#include <jansson.h>
#include <stddef.h>

#include "live.h"
#include "runner.h"

#define SHADOW_QUEUE 64 /* requests waiting for the candidate */

/* Runs lm (its reference taken) beside the served model on fraction of the
 * requests; lm NULL stops. Starts the worker on first use. 0 or -1. */
int shadow_set(struct live_model *lm, double fraction);

/*
 * After the served model answered: in[0..nin) its inputs (their data may be
 * taken: set to NULL then, the caller frees what is left), out[0] its first
 * output, label the served "name:version". Cheap when not sampled.
 */
void shadow_offer(struct runner_tensor *in, size_t nin, const struct runner_tensor *out,
		  size_t nout, const char *label);

/* Adds {"shadow": {...}} to the report of the served label the figures are
 * about (appending a bare report for it when there is none). */
void shadow_collect(json_t *reports);
/* The top class of the n scores p and its confidence in *conf: p itself
 * when it is a probability vector, else the softmax of the logits. */
int shadow_top1(const float *p, size_t n, double *conf);

/* Figures since start, for /metrics: runs, dropped. */
void shadow_counts(unsigned long *runs, unsigned long *dropped);

/* Stops the worker and drops the candidate and the queue. */
void shadow_shutdown(void);

#endif
