/*
 * otlp_int.h - what the two OTLP decoders (otlp_pb.c, otlp_json.c) hand the
 * mapping (otlp.c): one data point with its resource, scope and metric
 * already read, in the wire's own units. Internal to domain/.
 */
#ifndef RAMP_OTLP_INT_H
#define RAMP_OTLP_INT_H

#include "domain/otlp.h"

enum otlp_type { OTLP_T_GAUGE, OTLP_T_SUM, OTLP_T_HIST, OTLP_T_OTHER };
/* AggregationTemporality's numbers (metrics.proto) */
#define OTLP_TEMP_DELTA 1
#define OTLP_TEMP_CUMULATIVE 2

struct otlp_dp {
	/* the resource's, a point attribute of the same name overriding */
	const char *device_id, *model, *version;
	uint64_t ident; /* a hash of the resource's, the scope's and the point's attributes */
	const char *metric, *unit;
	enum otlp_type type;
	int temporality;
	bool monotonic;
	uint64_t start_ns, time_ns;
	bool has_value;
	double value;
	uint64_t count;
	size_t nb, nc;
	const double *bounds;
	const uint64_t *counts;
};

/* Maps one point into b: kept, counted unknown, or refused (b->rejected,
 * b->error). 0, RAMP_ETOOBIG past OTLP_POINTS_MAX, or RAMP_ENOMEM. */
int otlp_map_point(struct otlp_batch *b, const struct otlp_dp *dp);

/* The attribute names ramp reads. */
#define OTLP_ATTR_DEVICE "device.id"
#define OTLP_ATTR_MODEL "ramp.model.name"
#define OTLP_ATTR_VERSION "ramp.model.version"

/* Folds one attribute (key, its value's type tag and text) into a hash
 * that does not depend on the attributes' order. */
uint64_t otlp_attr_hash(uint64_t h, const char *key, int tag, const void *val, size_t len);

#endif
