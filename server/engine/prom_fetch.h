/*
 * prom_fetch.h - the HTTP half of Prometheus gates: instant queries
 * (POST /api/v1/query) run side by side with one libcurl multi handle, all
 * bounded by the longest of their timeouts, so one evaluation pass waits at
 * most PROM_TIMEOUT_MAX_S however many queries it makes. Secrets are read
 * from RAMP_PROM_SECRETS_DIR at each query (a rotated token is used at the
 * next pass).
 */
#ifndef RAMP_PROM_FETCH_H
#define RAMP_PROM_FETCH_H

#include "domain/promql.h"

#include <stddef.h>

struct prom_req {
	const struct prom_provider *pv; /* in */
	const char *query;		/* in: rendered */
	enum prom_outcome outcome;	/* out */
	double value;			/* out: PROM_VALUE */
	char why[256];			/* out: PROM_NODATA / PROM_ERROR */
};

/* Runs reqs[0..n) at once and fills their results; secrets_dir may be "". */
void prom_fetch_all(struct prom_req *reqs, size_t n, const char *secrets_dir);

#endif
