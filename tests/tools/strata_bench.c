/*
 * strata_bench.c - the cost of a stage's choice with and without
 * stratify_by (docs/benchmarks.md, docs/strata.md): for each fleet size on
 * the command line, the plain choice (bucket_order + the prefix, what
 * rollouts.c does) and strata_choose over (platform, site) with 3 x 10 and
 * with 3 x 10 x 40 (platform, site, rack) strata, each the median of a few
 * runs on the same devices. Pure CPU: the database read is not in it.
 *
 *   build/tools/strata-bench 10000 100000
 */
#include "domain/bucket.h"
#include "domain/strata.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RUNS 7

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v)
{
	qsort(v, RUNS, sizeof(*v), cmp_double);
	return v[RUNS / 2];
}

static void policy_of(struct policy *p, size_t nkeys)
{
	static const char *const keys[] = {"platform", "site", "rack"};

	memset(p, 0, sizeof(*p));
	p->nstages = 2;
	strcpy(p->stages[0].name, "canary");
	p->stages[0].size = 0.01;
	p->stages[0].strata.nkeys = nkeys;
	p->stages[0].strata.min_per_stratum = 2;
	for (size_t i = 0; i < nkeys; i++)
		strcpy(p->stages[0].strata.keys[i], keys[i]);
	strcpy(p->stages[1].name, "full");
	p->stages[1].size = 1.0;
}

int main(int argc, char **argv)
{
	static const char *const keys[] = {"platform", "site", "rack"};
	static const char *const plats[] = {"rpi-arm64", "jetson-arm64", "cloud-x86"};
	static struct policy pol;

	printf("%-8s %-22s %10s %10s %8s\n", "devices", "choice", "median ms", "chosen", "strata");
	for (int a = 1; a < argc; a++) {
		size_t n = strtoul(argv[a], NULL, 10), cnt = 0;
		char (*ids)[32] = calloc(n, sizeof(*ids)), (*sites)[32] = calloc(n, sizeof(*sites));
		char (*racks)[32] = calloc(n, sizeof(*racks));
		const char **vals = calloc(n * 3, sizeof(*vals));
		struct strata_device *d = calloc(n, sizeof(*d));
		struct bucket_entry *e = calloc(n, sizeof(*e));
		double t[RUNS];

		if (!ids || !sites || !racks || !vals || !d || !e)
			return 1;
		for (size_t i = 0; i < n; i++) {
			snprintf(ids[i], sizeof(ids[i]), "dev-%08zu", i);
			snprintf(sites[i], sizeof(sites[i]), "wh-%zu", (i / 3) % 10);
			snprintf(racks[i], sizeof(racks[i]), "r%zu", (i / 30) % 40);
			vals[i * 3] = plats[i % 3];
			vals[i * 3 + 1] = sites[i];
			vals[i * 3 + 2] = racks[i];
		}
		for (int r = 0; r < RUNS; r++) {
			double t0 = now_ms();
			for (size_t i = 0; i < n; i++)
				e[i].device_id = ids[i];
			bucket_order(42, e, n);
			cnt = bucket_stage_count(0.01, n);
			t[r] = now_ms() - t0;
		}
		printf("%-8zu %-22s %10.1f %10zu %8s\n", n, "plain (size 1%)", median(t), cnt, "-");
		for (size_t nk = 2; nk <= 3; nk++) {
			policy_of(&pol, nk);
			for (int r = 0; r < RUNS; r++) {
				double t0 = now_ms();
				for (size_t i = 0; i < n; i++) {
					d[i].id = ids[i];
					d[i].vals = vals + i * 3;
				}
				if (strata_choose(42, &pol, 0, keys, 3, d, n, &cnt) != 0)
					return 1;
				t[r] = now_ms() - t0;
			}
			printf("%-8zu %-22s %10.1f %10zu %8d\n", n,
			       nk == 2 ? "stratified 2 keys" : "stratified 3 keys", median(t), cnt,
			       nk == 2 ? 30 : 1200);
		}
		free(ids);
		free(sites);
		free(racks);
		free(vals);
		free(d);
		free(e);
	}
	return 0;
}
