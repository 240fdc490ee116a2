/*
 * infer.h - the inference figures the agent reports: the agent listens on a
 * Unix stream socket (the telemetry-socket key) and the inference process
 * connects and writes one line per answered request or gauge reading
 * (AGENT_SPEC.md "Telemetry line protocol"):
 *
 *   <model> <latency_ms> ok|error [<confidence 0..1>]
 *   <model> <field>=<number> [<field>=<number> ...]
 *
 * A listener thread parses lines into per-model accumulators; the telemetry
 * thread takes them every interval as report objects.  Anything else is
 * dropped and counted.  infer_parse_line() is pure (and fuzzed).
 */
#ifndef RAMP_AGENT_INFER_H
#define RAMP_AGENT_INFER_H

#include <jansson.h>
#include <stddef.h>

#include "common/err.h"

#define INFER_LINE_MAX 1024 /* bytes of a line, its newline not counted */
#define INFER_MODELS_MAX 16 /* models tracked per interval */
#define INFER_CLIENTS_MAX 64

enum { INFER_REQUEST = 1, INFER_FIELDS = 2 };

/* One parsed line. */
struct infer_line {
	char model[64];
	int kind; /* INFER_REQUEST or INFER_FIELDS */
	/* INFER_REQUEST */
	double latency_ms;
	int error;
	double confidence; /* NAN if absent */
	/* INFER_FIELDS, in line order, no field twice */
	size_t nfields;
	char field[8][24];
	double value[8];
};

/*
 * Parses one line of n bytes (without its newline; a trailing '\r' is
 * ignored; tokens are separated by spaces or tabs).  Pure.  0 with *out
 * filled, or RAMP_EINVAL with err->field naming the token and err->msg why.
 * Model names are [a-z0-9][a-z0-9._-]{0,62}.  Fields: npu_pct (0..100),
 * model_load_ms (>= 0), exceptions, oom_kills, timeouts (whole numbers
 * 0..2^53); latency finite and >= 0; confidence in [0,1].  Numbers are
 * decimal (no hex, inf or nan).
 */
int infer_parse_line(const char *line, size_t n, struct infer_line *out, struct ramp_err *err);

struct infer;

/*
 * Listens on the Unix stream socket at path and starts the listener thread
 * (poll() over the listener and up to INFER_CLIENTS_MAX clients; more are
 * accepted and closed at once).  The directory must exist.  A stale socket
 * file at path (nobody accepting) is replaced; a live one or any other kind
 * of file is an error.  The socket is made mode 0666 so an unprivileged
 * inference process can connect: anyone on the machine who can reach the
 * directory can feed figures, so put it in a directory whose mode restricts
 * that when it matters.  Lines over INFER_LINE_MAX bytes are dropped (and
 * counted) up to the next newline; an unterminated line at a client's end is
 * dropped too.  NULL with *err filled (field "telemetry-socket").
 */
struct infer *infer_open(const char *path, struct ramp_err *err);

/*
 * Device consent (docs/windows.md): a client's line "!lock <reason>" holds
 * installs off and "!unlock" lets them go (the '!' keeps them apart from
 * model names). fn(ctx, locked, reason) is called on the listener thread
 * for each such line.
 */
void infer_on_lock(struct infer *in, void (*fn)(void *ctx, int locked, const char *reason),
		   void *ctx);

/*
 * Takes what accumulated since the last take.  For each model seen, calls
 * label(cls, model, buf, cap), which fills buf with "model:version" and
 * returns 0, or returns -1 for a model the agent does not run (its lines are
 * discarded and counted in infer_dropped()).  Appends one report object per
 * labelled model to reports: "model", and, when request lines came,
 * "requests", "errors", "latency_ms", "latency_hist", "confidence_hist",
 * "confidence_mean" (stats_take()), plus npu_pct (mean), model_load_ms
 * (last), exceptions, oom_kills, timeouts (summed integers) when such lines
 * came.  Call from one thread at a time; label runs without the lock held.
 */
void infer_take(struct infer *in, json_t *reports,
		int (*label)(void *cls, const char *model, char *buf, size_t cap), void *cls);

/*
 * Lines dropped so far: malformed, oversized, unterminated at a client's end,
 * over INFER_MODELS_MAX models in an interval, and lines of models label
 * refused.  Readable from any thread.
 */
unsigned long infer_dropped(const struct infer *in);

/* Stops the thread, closes the clients and the listener, unlinks the socket (if still ours), frees
 * in.  NULL is a no-op. */
void infer_close(struct infer *in);

#endif
