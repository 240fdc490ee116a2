/*
 * policy.h - rollout policies (API.md "Policies"): the ordered stages a
 * rollout walks through, each with a size, a validation window and the
 * metric gates that must hold, plus what to do on a breach. YAML and JSON
 * parse into the same struct; every error names the field
 * ("stages[1].size") so the API can answer 400/422 precisely.
 * A struct policy is about 100 KiB: callers on small stacks allocate it.
 */
#ifndef RAMP_POLICY_H
#define RAMP_POLICY_H

#include "common/err.h"
#include "domain/metric.h"
#include "domain/promql.h"
#include "domain/policy_judge.h"
#include "domain/policy_shadow.h"
#include "domain/policy_strata.h"
#include "domain/threshold.h"
#include "domain/window.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POLICY_MAX_STAGES 32
#define POLICY_MAX_METRICS 32
#define POLICY_MAX_WINDOW_S (365 * 86400) /* longest validation_window */
#define POLICY_MAX_LABEL_WINDOWS 8 /* values of label_windows */
#define POLICY_WINDOW_LABEL "ramp.window" /* the device label label_windows keys on */

enum policy_format { POLICY_YAML, POLICY_JSON };

enum metric_scope { SCOPE_COHORT, SCOPE_ANY_DEVICE };

struct policy_metric {
	enum metric_id metric;
	struct threshold threshold;
	enum metric_scope scope;
	char text[64]; /* threshold as written; "" for a sequential judge */
	struct policy_judge judge; /* domain/policy_judge.h */
	/* a metric read from Prometheus instead of ramp's telemetry (metric is
	 * METRIC_COUNT then): 1 + its index in policy.prom, 0 for ramp's own */
	int prom;
	char name[64]; /* its own name, when prom > 0 */
};

struct policy_stage {
	char name[64];
	double size;	/* in (0,1], increasing, 1.0 in the last stage */
	char cohort[64]; /* "" when the stage draws from the whole target */
	int64_t window_s;
	int min_devices;
	int min_samples;
	bool approval;
	size_t nmetrics; /* after inheritance from the previous stage */
	struct policy_metric metrics[POLICY_MAX_METRICS];
	/* maintenance windows (policy_windows.c): the stage's own, else the
	 * policy's top-level "windows"; none: devices update at any time */
	struct window_list windows;
	/* shadow runs (policy_shadow.c): the stage's devices run the candidate
	 * beside their current model on shadow_fraction of live requests */
	bool shadow;
	double shadow_fraction; /* 0 when not a shadow stage */
	struct policy_strata strata; /* stratify_by (policy_strata.c) */
};

enum on_inconclusive {
	INCONCLUSIVE_PAUSE,
	INCONCLUSIVE_ROLLBACK,
	INCONCLUSIVE_EXTEND
};

struct policy {
	size_t nstages;
	struct policy_stage stages[POLICY_MAX_STAGES];
	bool automatic;
	enum on_inconclusive on_inconclusive;
	int failure_limit;
	/* the Prometheus providers metrics point to, each distinct one once */
	size_t nprom;
	struct prom_provider prom[PROM_MAX];
	bool rollback_respects_windows; /* false: a rollback reaches devices at once */
	/* rollback.per_variant (docs/judge.md): a variant (platform) that fails
	 * alone goes back to the baseline, the others go on */
	bool rollback_per_variant;
	/* "label_windows": devices whose label ramp.window has one of these
	 * values take its windows, in every stage, instead of the stage's */
	struct label_windows {
		char value[64];
		struct window_list windows;
	} label_windows[POLICY_MAX_LABEL_WINDOWS];
	size_t nlabel_windows;
};

/*
 * Parses and validates data[0..len) as fmt into *out (left zeroed on
 * error). A null value (YAML "~" or empty) means the field's default; a
 * stage whose metrics are absent or null inherits the previous stage's. Returns 0; RAMP_EMALFORMED for unparseable bytes; RAMP_EINVAL
 * with err->field set for a well-formed but invalid policy; RAMP_ENOMEM.
 */
int policy_parse(const char *data, size_t len, enum policy_format fmt,
		 struct policy *out, struct ramp_err *err);

/*
 * Validates an already decoded document (what policy_parse does after
 * decoding); the API uses it for inline policies. Same returns.
 */
int policy_from_json(const json_t *root, struct policy *out,
		     struct ramp_err *err);

/*
 * Canonical JSON (sizes as numbers, windows as integer seconds, thresholds
 * as written, metrics expanded after inheritance); the caller json_decref()s.
 * policy_parse of its dump gives an equal policy. NULL when out of memory.
 */
json_t *policy_to_json(const struct policy *p);

/*
 * Maintenance windows (policy_windows.c): reads the top-level "windows" and
 * "rollback_respects_windows" and each stage's "windows" into p, whose
 * stages are already parsed. Same returns as policy_from_json.
 */
int policy_windows_parse(const json_t *root, struct policy *p, struct ramp_err *err);
/* Adds what policy_windows_parse reads to j (policy_to_json's object); 0 or RAMP_ENOMEM. */
int policy_windows_to_json(const struct policy *p, json_t *j);
bool policy_windows_equal(const struct policy *a, const struct policy *b);
/* The windows of a device of stage whose ramp.window label is label (NULL:
 * none): label_windows' list for that value, else the stage's. */
const struct window_list *policy_group_windows(const struct policy *p, int stage,
					       const char *label);

/* True when a and b are the same policy field by field. */
bool policy_equal(const struct policy *a, const struct policy *b);

/* "pause", "rollback", "extend"; "cohort", "any_device". */
const char *policy_inconclusive_name(enum on_inconclusive v);
const char *policy_scope_name(enum metric_scope s);

/* The metric's name: ramp's own, or a Prometheus metric's own. */
const char *policy_metric_name(const struct policy_metric *m);

/* The metric's Prometheus provider, NULL for ramp's own metrics. */
const struct prom_provider *policy_metric_prom(const struct policy *p,
					       const struct policy_metric *m);

/* True when s is a valid ramp name: [a-z0-9][a-z0-9._-]{0,62}. */
bool policy_name_valid(const char *s);

#endif
