/*
 * bench_judge.c - the judge experiment (`make bench-judge`, docs/judge.md).
 *
 * Simulates a canary arm and a contemporaneous baseline arm on a simulated
 * clock (one step = one minute; nothing sleeps) and judges them with three
 * judges, each looking every minute for a 30-minute validation window:
 *   fixed     ramp's fixed thresholds: the real threshold_parse/threshold_eval
 *             and SLO math (slo_hist_quantile, slo_kl_divergence) on the
 *             stage's data, min_devices 3, min_samples 100; a decisive breach
 *             fails at once, a pass waits for the window's end;
 *   kayenta   a Kayenta-style fixed-window Mann-Whitney: at the window's end,
 *             the canary's per-interval (2 min) metric values against the
 *             baseline's, one-sided 5%; empty intervals dropped (NaN);
 *   seq       the sequential judge (domain/judge.c) on the stage's data; a fail
 *             acts at once, an error-rate or latency pass too (the engine's
 *             early pass), drift decides at its checkpoints.
 * Cells: a metric family (error, latency, drift) x regression size x canary
 * size (5, 20, 100 devices) x traffic (low 2, high 30 requests/device/min);
 * 200 runs per cell, each with its own seed. Output: a markdown table.
 *   bench-judge [runs [cell]]   (cell: only the rows whose name contains it)
 */
#include "domain/judge.h"
#include "domain/slo.h"
#include "domain/stats.h"
#include "domain/threshold.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STEPS 30    /* minutes in the validation window */
#define INTERVAL 2  /* Kayenta's interval, minutes */
#define NBASE 100   /* baseline devices */
#define MAXDEV 100
#define NLAT 10
#define NCONF 4
/* drift is judged at the engine's JUDGE_DRIFT_LOOKS checkpoints a window,
 * the last one at the window's end: minutes 8, 15, 23 and 30 (the engine's
 * k * window / JUDGE_DRIFT_LOOKS, rounded up to a whole minute) */
#define DRIFT_CHECKPOINT(t) (((t) + 1) * JUDGE_DRIFT_LOOKS / STEPS > (t) * JUDGE_DRIFT_LOOKS / STEPS)

enum family { FAM_ERROR, FAM_LATENCY, FAM_DRIFT };

struct cell {
	enum family fam;
	const char *name;
	double effect; /* error factor, latency factor, drift shift */
	bool bad;
};

static const struct cell cells[] = {
	{FAM_ERROR, "error healthy", 1.0, false}, {FAM_ERROR, "error x1.5", 1.5, true},
	{FAM_ERROR, "error x2", 2.0, true},	  {FAM_ERROR, "error x5", 5.0, true},
	{FAM_LATENCY, "latency healthy", 1.0, false}, {FAM_LATENCY, "p95 +20%", 1.2, true},
	{FAM_LATENCY, "p95 +50%", 1.5, true},	  {FAM_DRIFT, "confidence healthy", 0, false},
	{FAM_DRIFT, "confidence small shift", 0.15, true},
	{FAM_DRIFT, "confidence large shift", 0.4, true},
};
static const int sizes[] = {5, 20, 100};
static const double traffic[] = {2, 30};
static const char *const traffic_name[] = {"low", "high"};

static const double lat_bounds[NLAT] = {10, 20, 30, 40, 50, 70, 100, 150, 200, 300};
static const double conf_bounds[NCONF] = {0.2, 0.4, 0.6, 0.8};
static const double conf_prof[NCONF + 1] = {0.05, 0.10, 0.20, 0.35, 0.30};

struct dev {
	double rate, load, speed, tilt;
};

/* one arm's per-step totals and cumulative per-device sums */
struct arm {
	int n;
	struct dev d[NBASE];
	double req[STEPS], err[STEPS], lat[STEPS][NLAT + 1], conf[STEPS][NCONF + 1];
	double dreq[NBASE], derr[NBASE];
	struct judge_arm *j;
};

static double lognorm_cdf(double x, double mu, double sigma)
{
	return stats_norm_cdf((log(x) - mu) / sigma);
}

static void arm_init(struct arm *a, int n, uint64_t *rng, double lam)
{
	memset(a, 0, sizeof(*a));
	a->n = n;
	for (int i = 0; i < n; i++) {
		a->d[i].rate = 0.01 * exp(0.3 * stats_rng_normal(rng));
		a->d[i].load = lam * (0.5 + stats_rng_unif(rng));
		a->d[i].speed = exp(0.1 * stats_rng_normal(rng));
		a->d[i].tilt = 0.05 * stats_rng_normal(rng);
	}
	a->j = judge_arm_new();
	judge_arm_set_layout(a->j, lat_bounds, NLAT, conf_bounds, NCONF);
}

/* one minute of traffic on every device of a */
static void arm_step(struct arm *a, int t, const struct cell *c, bool canary, uint64_t *rng)
{
	for (int i = 0; i < a->n; i++) {
		const struct dev *d = &a->d[i];
		double lat[NLAT + 1] = {0}, conf[NCONF + 1] = {0}, req = 0, err;
		double rate = d->rate * (canary && c->fam == FAM_ERROR ? c->effect : 1);
		char id[16];
		if (c->fam == FAM_ERROR) {
			err = stats_rng_poisson(rng, d->load * rate);
			req = err + stats_rng_poisson(rng, d->load * (1 - rate));
		} else if (c->fam == FAM_LATENCY) {
			double mu = log(50 * d->speed * (canary ? c->effect : 1)), prev = 0;
			for (int j = 0; j <= NLAT; j++) {
				double cdf = j < NLAT ? lognorm_cdf(lat_bounds[j], mu, 0.5) : 1;
				lat[j] = stats_rng_poisson(rng, d->load * (cdf - prev));
				prev = cdf;
				req += lat[j];
			}
			err = 0;
		} else {
			double shift = canary ? c->effect : 0, w[NCONF + 1], tot = 0;
			for (int j = 0; j <= NCONF; j++) {
				w[j] = conf_prof[j] * (1 + (j >= 3 ? -shift : shift)) *
				       (1 + (j - 2) * d->tilt);
				w[j] = w[j] > 0 ? w[j] : 0;
				tot += w[j];
			}
			for (int j = 0; j <= NCONF; j++) {
				conf[j] = stats_rng_poisson(rng, d->load * w[j] / tot);
				req += conf[j];
			}
			err = 0;
		}
		a->req[t] += req;
		a->err[t] += err;
		a->dreq[i] += req;
		a->derr[i] += err;
		for (int j = 0; j <= NLAT; j++)
			a->lat[t][j] += lat[j];
		for (int j = 0; j <= NCONF; j++)
			a->conf[t][j] += conf[j];
		snprintf(id, sizeof(id), "d%d", i);
		judge_arm_add_counts(a->j, id, req, err, c->fam == FAM_LATENCY ? lat : NULL,
				     c->fam == FAM_DRIFT ? conf : NULL);
	}
}

/* sums of steps [0, t] */
static void cum(const struct arm *a, int t, double *req, double *err, double *lat, double *conf)
{
	*req = *err = 0;
	memset(lat, 0, (NLAT + 1) * sizeof(double));
	memset(conf, 0, (NCONF + 1) * sizeof(double));
	for (int s = 0; s <= t; s++) {
		*req += a->req[s];
		*err += a->err[s];
		for (int j = 0; j <= NLAT; j++)
			lat[j] += a->lat[s][j];
		for (int j = 0; j <= NCONF; j++)
			conf[j] += a->conf[s][j];
	}
}

static struct threshold th_err, th_lat, th_conf;

/* ramp's fixed threshold: 1 pass, 0 fail, -1 inconclusive */
static int fixed_judge(const struct arm *c, const struct arm *b, const struct cell *cl, int t)
{
	double cr, ce, cl_[NLAT + 1], cc[NCONF + 1], br, be, bl[NLAT + 1], bc[NCONF + 1], v, bv;

	cum(c, t, &cr, &ce, cl_, cc);
	cum(b, t, &br, &be, bl, bc);
	if (c->n < 3 || cr < 100)
		return -1;
	if (cl->fam == FAM_ERROR) {
		v = ce / cr;
		bv = br > 0 ? be / br : NAN;
		return threshold_eval(&th_err, v, bv, br > 0);
	}
	if (cl->fam == FAM_LATENCY) {
		v = slo_hist_quantile(lat_bounds, NLAT, cl_, 0.95);
		bv = slo_hist_quantile(lat_bounds, NLAT, bl, 0.95);
		return threshold_eval(&th_lat, v, bv, !isnan(bv));
	}
	v = slo_kl_divergence(cc, bc, NCONF + 1, SLO_KL_ALPHA);
	return threshold_eval(&th_conf, v, 0, true);
}

/* Mann-Whitney on raw values: ranks through the histogram version */
static int mw_values(const double *x, int nx, const double *y, int ny, struct stats_mw *out)
{
	double all[2 * STEPS], hx[2 * STEPS] = {0}, hy[2 * STEPS] = {0};
	int n = 0, k = 0;

	for (int i = 0; i < nx; i++)
		all[n++] = x[i];
	for (int i = 0; i < ny; i++)
		all[n++] = y[i];
	for (int i = 1; i < n; i++) /* insertion sort, n <= 30 */
		for (int j = i; j > 0 && all[j - 1] > all[j]; j--) {
			double tmp = all[j];
			all[j] = all[j - 1];
			all[j - 1] = tmp;
		}
	for (int i = 0; i < n; i++)
		if (k == 0 || all[i] != all[k - 1])
			all[k++] = all[i];
	for (int i = 0; i < nx; i++)
		for (int j = 0; j < k; j++)
			if (x[i] == all[j])
				hx[j]++;
	for (int i = 0; i < ny; i++)
		for (int j = 0; j < k; j++)
			if (y[i] == all[j])
				hy[j]++;
	return stats_mann_whitney_hist(hx, hy, (size_t)k, out);
}

/* the interval value of an arm; NaN when the interval has no data */
static double interval_value(const struct arm *a, const struct cell *cl, int from)
{
	double req = 0, err = 0, lat[NLAT + 1] = {0}, conf[NCONF + 1] = {0}, m = 0, tot = 0;

	for (int s = from; s < from + INTERVAL; s++) {
		req += a->req[s];
		err += a->err[s];
		for (int j = 0; j <= NLAT; j++)
			lat[j] += a->lat[s][j];
		for (int j = 0; j <= NCONF; j++)
			conf[j] += a->conf[s][j];
	}
	if (!(req > 0))
		return NAN;
	if (cl->fam == FAM_ERROR)
		return err / req;
	if (cl->fam == FAM_LATENCY)
		return slo_hist_quantile(lat_bounds, NLAT, lat, 0.95);
	for (int j = 0; j <= NCONF; j++) { /* higher is worse: 1 - mean confidence */
		double mid = j < NCONF ? (conf_bounds[j] - (j ? conf_bounds[j - 1] : 0)) / 2 +
						 (j ? conf_bounds[j - 1] : 0)
				       : 0.9;
		m += conf[j] * (1 - mid);
		tot += conf[j];
	}
	return m / tot;
}

/* Kayenta-style: decided at the window's end only */
static int kayenta_judge(const struct arm *c, const struct arm *b, const struct cell *cl)
{
	double x[STEPS], y[STEPS], mx = 0, my = 0;
	int nx = 0, ny = 0;
	struct stats_mw mw;

	for (int s = 0; s + INTERVAL <= STEPS; s += INTERVAL) {
		double vx = interval_value(c, cl, s), vy = interval_value(b, cl, s);
		if (!isnan(vx)) {
			x[nx++] = vx;
			mx += vx;
		}
		if (!isnan(vy)) {
			y[ny++] = vy;
			my += vy;
		}
	}
	if (nx < 3 || ny < 3 || mw_values(x, nx, y, ny, &mw))
		return -1; /* NaN: no score */
	if (cl->fam == FAM_DRIFT) /* two-sided for a shift in either direction */
		return mw.p_greater < 0.025 || mw.p_greater > 0.975 ? 0 : 1;
	return mw.p_greater < 0.05 ? 0 : 1;
}

static int seq_judge(const struct arm *c, const struct arm *b, const struct cell *cl,
		     uint64_t seed)
{
	struct judge_params p = {0.05, JUDGE_DRIFT_EFFECT, 3, 100, seed, JUDGE_DRIFT_LOOKS};
	struct judge_result r;

	if (cl->fam == FAM_ERROR) {
		p.min_effect = 0.5;
		judge_error_rate(c->j, b->j, &p, &r);
	} else if (cl->fam == FAM_LATENCY) {
		p.min_effect = 0.1;
		judge_latency(c->j, b->j, 0.95, &p, &r);
	} else {
		judge_drift(c->j, b->j, &p, &r);
	}
	return r.result;
}

struct tally {
	int fail, pass, inconclusive;
	double fail_minutes; /* sum over fails */
	double pass_minutes; /* sum over passes */
};

static void decide(struct tally *t, int verdict, int minute)
{
	if (verdict == 0) {
		t->fail++;
		t->fail_minutes += minute;
	} else if (verdict == 1) {
		t->pass++;
		t->pass_minutes += minute;
	} else {
		t->inconclusive++;
	}
}

static void run_cell(const struct cell *cl, int size, int ti, int runs, uint64_t base_seed,
		     struct tally out[3])
{
	static struct arm c, b;

	memset(out, 0, 3 * sizeof(out[0]));
	for (int run = 0; run < runs; run++) {
		uint64_t rng = base_seed * 1000003ULL + (uint64_t)run;
		int vf = -1, vs = -1, done_f = 0, done_s = 0;
		uint64_t seed; /* the permutation seed: fixed for the stage, as in the engine */
		arm_init(&c, size, &rng, traffic[ti]);
		arm_init(&b, NBASE, &rng, traffic[ti]);
		seed = (base_seed * 1000003ULL + (uint64_t)run) ^ 0x6a7564676521ULL;
		for (int t = 0; t < STEPS; t++) {
			bool last = t == STEPS - 1;
			arm_step(&c, t, cl, true, &rng);
			arm_step(&b, t, cl, false, &rng);
			if (!done_f) {
				vf = fixed_judge(&c, &b, cl, t);
				if (vf == 0 || last) {
					decide(&out[0], vf, t + 1);
					done_f = 1;
				}
			}
			if (!done_s && (cl->fam != FAM_DRIFT || DRIFT_CHECKPOINT(t) || last)) {
				vs = seq_judge(&c, &b, cl, seed);
				/* the engine's early pass: an always-valid pass (error
				 * rate, latency) promotes at once; drift waits */
				if (vs == 0 || last || (vs == 1 && cl->fam != FAM_DRIFT)) {
					decide(&out[2], vs, t + 1);
					done_s = 1;
				}
			}
		}
		decide(&out[1], kayenta_judge(&c, &b, cl), STEPS);
		judge_arm_free(c.j);
		judge_arm_free(b.j);
	}
}

static void parse_th(const char *text, enum metric_id m, struct threshold *t)
{
	struct ramp_err err;

	if (threshold_parse(text, m, "bench", t, &err)) {
		fprintf(stderr, "bad threshold %s\n", text);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	int runs = argc > 1 ? atoi(argv[1]) : 200;
	const char *only = argc > 2 ? argv[2] : NULL;
	clock_t t0 = clock();
	int ci = 0;

	parse_th("< 1.5x baseline", METRIC_ERROR_RATE, &th_err);
	parse_th("< 1.15x baseline", METRIC_LATENCY_P95, &th_lat);
	parse_th("< 0.05", METRIC_CONFIDENCE_SHIFT, &th_conf);
	printf("| regression | devices | traffic | fixed: rollback / promote / inconclusive %%, "
	       "minutes to rollback / to promote | kayenta | sequential |\n");
	printf("| --- | ---: | --- | --- | --- | --- |\n");
	for (size_t k = 0; k < sizeof(cells) / sizeof(cells[0]); k++)
		for (size_t si = 0; si < 3; si++)
			for (int ti = 0; ti < 2; ti++) {
				struct tally t[3];
				if (only && strstr(cells[k].name, only) == NULL) {
					++ci; /* the seeds stay those of the whole run */
					continue;
				}
				run_cell(&cells[k], sizes[si], ti, runs, (uint64_t)++ci, t);
				printf("| %s | %d | %s |", cells[k].name, sizes[si],
				       traffic_name[ti]);
				for (int j = 0; j < 3; j++) {
					char mins[40] = "-", pm[16] = "-";
					if (t[j].pass)
						snprintf(pm, sizeof(pm), "%.1f",
							 t[j].pass_minutes / t[j].pass);
					if (t[j].fail)
						snprintf(mins, sizeof(mins), "%.1f / %s",
							 t[j].fail_minutes / t[j].fail, pm);
					else
						snprintf(mins, sizeof(mins), "- / %s", pm);
					printf(" %.1f / %.1f / %.1f, %s |", 100.0 * t[j].fail / runs,
					       100.0 * t[j].pass / runs,
					       100.0 * t[j].inconclusive / runs, mins);
				}
				printf("\n");
				fflush(stdout);
			}
	fprintf(stderr, "bench-judge: %d runs per cell, %.1f s CPU\n", runs,
		(double)(clock() - t0) / CLOCKS_PER_SEC);
	return 0;
}
