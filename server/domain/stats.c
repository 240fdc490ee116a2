/*
 * stats.c - see stats.h. Every formula is checked in tests/unit/test_stats.c
 * against values computed independently (numpy reimplementations and
 * published tables).
 */
#include "domain/stats.h"

#include <math.h>

double stats_norm_cdf(double z)
{
	return 0.5 * erfc(-z / sqrt(2.0));
}

double stats_norm_sf(double z)
{
	return 0.5 * erfc(z / sqrt(2.0));
}

double stats_msprt_lr(double est, double v, double tau2, double theta0)
{
	double d = est - theta0;

	if (!(v > 0) || !(tau2 > 0) || !isfinite(est))
		return NAN;
	return sqrt(v / (v + tau2)) * exp(tau2 * d * d / (2.0 * v * (v + tau2)));
}

double stats_msprt_halfwidth(double v, double tau2, double alpha)
{
	if (!(v > 0) || !(tau2 > 0) || !(alpha > 0) || !(alpha < 1))
		return NAN;
	return sqrt(v * (v + tau2) / tau2 * (2.0 * log(1.0 / alpha) + log((v + tau2) / v)));
}

int stats_cluster_rate(const double *events, const double *trials, size_t k,
		       struct stats_rate *out)
{
	double e = 0, n = 0, ss = 0, r, vr, binom;

	if (k < 2)
		return -1;
	for (size_t i = 0; i < k; i++) {
		e += events[i];
		n += trials[i];
	}
	if (!(n > 0))
		return -1;
	r = (e + 0.5) / (n + 1.0);
	for (size_t i = 0; i < k; i++) {
		double d = events[i] - r * trials[i];
		ss += d * d;
	}
	vr = (double)k / (double)(k - 1) * ss / (n * n);
	out->events = e;
	out->trials = n;
	out->rate = r;
	out->logit = log(r / (1.0 - r));
	out->var_logit = vr / (r * r * (1.0 - r) * (1.0 - r));
	binom = 1.0 / (e + 0.5) + 1.0 / (n - e + 0.5);
	out->var_cluster = out->var_logit;
	out->var_binomial = binom;
	if (!(out->var_logit >= binom))
		out->var_logit = binom;
	out->clusters = k;
	return 0;
}

int stats_mann_whitney_hist(const double *x, const double *y, size_t n,
			    struct stats_mw *out)
{
	double nx = 0, ny = 0, u = 0, below = 0, ties = 0, tot, var;

	for (size_t j = 0; j < n; j++) {
		double xj = x[j] > 0 ? x[j] : 0, yj = y[j] > 0 ? y[j] : 0, t = xj + yj;
		u += xj * (below + yj / 2.0);
		below += yj;
		nx += xj;
		ny += yj;
		ties += t * t * t - t;
	}
	tot = nx + ny;
	if (!(nx > 0) || !(ny > 0) || tot < 2)
		return -1;
	var = nx * ny / 12.0 * ((tot + 1.0) - ties / (tot * (tot - 1.0)));
	if (!(var > 0))
		return -1;
	out->nx = nx;
	out->ny = ny;
	out->u = u;
	out->auc = u / (nx * ny);
	out->var_u = var;
	out->z = (u - nx * ny / 2.0) / sqrt(var);
	out->p_greater = stats_norm_sf(out->z);
	return 0;
}

int stats_mw_cluster_var(const double *x, size_t kx, const double *y, size_t ky, size_t n,
			 struct stats_mw_cluster *out)
{
	double tx[STATS_MAX_BUCKETS], ty[STATS_MAX_BUCKETS], wx[STATS_MAX_BUCKETS],
		wy[STATS_MAX_BUCKETS];
	double m = 0, nn = 0, below = 0, above = 0, u = 0, a, s10 = 0, s01 = 0;
	size_t cx = 0, cy = 0;

	if (n == 0 || n > STATS_MAX_BUCKETS)
		return -1;
	for (size_t j = 0; j < n; j++) {
		tx[j] = ty[j] = 0;
		for (size_t i = 0; i < kx; i++)
			tx[j] += x[i * n + j] > 0 ? x[i * n + j] : 0;
		for (size_t i = 0; i < ky; i++)
			ty[j] += y[i * n + j] > 0 ? y[i * n + j] : 0;
		m += tx[j];
		nn += ty[j];
	}
	if (!(m > 0) || !(nn > 0))
		return -1;
	/* wx[j]: the share of baseline observations a canary one in bucket j
	 * beats (ties count half); wy[j]: the share of canary ones above a
	 * baseline one in bucket j */
	for (size_t j = 0; j < n; j++) {
		wx[j] = (below + ty[j] / 2.0) / nn;
		below += ty[j];
		u += tx[j] * wx[j];
	}
	for (size_t j = n; j-- > 0;) {
		wy[j] = (above + tx[j] / 2.0) / m;
		above += tx[j];
	}
	a = u / m;
	for (size_t i = 0; i < kx; i++) {
		double v = 0, mi = 0;
		for (size_t j = 0; j < n; j++) {
			double c = x[i * n + j] > 0 ? x[i * n + j] : 0;
			v += c * wx[j];
			mi += c;
		}
		if (mi > 0) {
			s10 += (v - mi * a) * (v - mi * a);
			cx++;
		}
	}
	for (size_t i = 0; i < ky; i++) {
		double v = 0, ni = 0;
		for (size_t j = 0; j < n; j++) {
			double c = y[i * n + j] > 0 ? y[i * n + j] : 0;
			v += c * wy[j];
			ni += c;
		}
		if (ni > 0) {
			s01 += (v - ni * a) * (v - ni * a);
			cy++;
		}
	}
	if (cx < 2 || cy < 2)
		return -1;
	out->auc = a;
	out->var10 = (double)cx / (double)(cx - 1) * s10 / (m * m);
	out->var01 = (double)cy / (double)(cy - 1) * s01 / (nn * nn);
	out->kx = cx;
	out->ky = cy;
	return 0;
}

static int sums(const double *p, const double *q, size_t n, double *sp, double *sq)
{
	*sp = *sq = 0;
	for (size_t i = 0; i < n; i++) {
		*sp += p[i] > 0 ? p[i] : 0;
		*sq += q[i] > 0 ? q[i] : 0;
	}
	return n > 0 && *sp > 0 && *sq > 0 ? 0 : -1;
}

static double prop(const double *v, size_t i, double s)
{
	return (v[i] > 0 ? v[i] : 0) / s;
}

double stats_psi(const double *p, const double *q, size_t n, double eps)
{
	double sp, sq, d = 0;

	if (sums(p, q, n, &sp, &sq))
		return NAN;
	for (size_t i = 0; i < n; i++) {
		double a = prop(p, i, sp) + eps, b = prop(q, i, sq) + eps;
		d += (a - b) * log(a / b);
	}
	return d;
}

double stats_js(const double *p, const double *q, size_t n)
{
	double sp, sq, d = 0;

	if (sums(p, q, n, &sp, &sq))
		return NAN;
	for (size_t i = 0; i < n; i++) {
		double a = prop(p, i, sp), b = prop(q, i, sq), m = (a + b) / 2.0;
		if (a > 0)
			d += 0.5 * a * log2(a / m);
		if (b > 0)
			d += 0.5 * b * log2(b / m);
	}
	return d < 0 ? 0 : d > 1 ? 1 : d;
}

double stats_ks(const double *p, const double *q, size_t n)
{
	double sp, sq, cp = 0, cq = 0, d = 0;

	if (sums(p, q, n, &sp, &sq))
		return NAN;
	for (size_t i = 0; i < n; i++) {
		cp += prop(p, i, sp);
		cq += prop(q, i, sq);
		if (fabs(cp - cq) > d)
			d = fabs(cp - cq);
	}
	return d;
}

double stats_ks_pvalue(double d, double ne)
{
	double en, lambda, sum = 0, fac = 2.0, prev = 0;

	if (!(ne > 0) || !(d >= 0))
		return NAN;
	en = sqrt(ne);
	lambda = (en + 0.12 + 0.11 / en) * d;
	if (lambda < 1e-3)
		return 1.0;
	for (int j = 1; j <= 100; j++) {
		double term = fac * exp(-2.0 * lambda * lambda * j * j);
		sum += term;
		if (fabs(term) <= 0.001 * prev || fabs(term) <= 1e-8 * sum)
			return sum < 0 ? 0 : sum > 1 ? 1 : sum;
		fac = -fac;
		prev = fabs(term);
	}
	return 1.0; /* did not converge: lambda is tiny */
}

uint64_t stats_rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

double stats_rng_unif(uint64_t *state)
{
	return (double)(stats_rng_next(state) >> 11) * 0x1.0p-53;
}

size_t stats_rng_below(uint64_t *state, size_t n)
{
	return (size_t)(stats_rng_unif(state) * (double)n) % n;
}

double stats_rng_normal(uint64_t *state)
{
	double u1 = stats_rng_unif(state), u2 = stats_rng_unif(state);

	if (u1 < 1e-300)
		u1 = 1e-300;
	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

double stats_rng_poisson(uint64_t *state, double lambda)
{
	double l, p = 1.0, k = 0;

	if (!(lambda > 0))
		return 0;
	if (lambda >= 30) {
		double x = floor(lambda + sqrt(lambda) * stats_rng_normal(state) + 0.5);
		return x < 0 ? 0 : x;
	}
	l = exp(-lambda);
	do {
		k++;
		p *= stats_rng_unif(state);
	} while (p > l);
	return k - 1;
}

double stats_rng_binomial(uint64_t *state, double n, double p)
{
	double k = 0, m;

	if (!(n > 0) || !(p > 0))
		return 0;
	if (p >= 1)
		return n;
	if (n <= 64) {
		for (double i = 0; i < n; i++)
			k += stats_rng_unif(state) < p;
		return k;
	}
	m = n * p;
	if (m < 30 && p < 0.1)
		k = stats_rng_poisson(state, m);
	else
		k = floor(m + sqrt(m * (1 - p)) * stats_rng_normal(state) + 0.5);
	return k < 0 ? 0 : k > n ? n : k;
}
