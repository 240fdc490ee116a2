/*
 * report.c - what ramp-sim tells its user: a live one-line progress
 * (devices per version, polls/s, reports/s, installs, errors), the summary
 * at exit (human or --json), and the same JSON rewritten atomically to
 * --stats-file so tests can watch a running fleet.
 */
#include "sim.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_PAIRS 64

struct pair {
	uint16_t model, version; /* version 0 with model 0: runs nothing */
	uint64_t n;
};

/* Devices per (model, running version) among active devices of platform
 * plat (-1: all). Returns the number of pairs filled. */
static size_t count_versions(struct sim *s, int plat, struct pair *out)
{
	size_t np = 0;

	for (size_t i = 0; i < s->nactive; i++) {
		const struct device *d = &s->devs[i];
		int any = 0;

		if (!d->active || (plat >= 0 && d->platform != plat))
			continue;
		for (int k = 0; k <= d->nmodels; k++) {
			uint16_t m = 0, v = 0;
			size_t j;

			if (k < d->nmodels) {
				if (d->m[k].running == 0)
					continue;
				m = d->m[k].model;
				v = d->m[k].running;
				any = 1;
			} else if (any) {
				break;
			}
			for (j = 0; j < np; j++)
				if (out[j].model == m && out[j].version == v)
					break;
			if (j == np) {
				if (np == MAX_PAIRS)
					continue;
				out[np++] = (struct pair){m, v, 0};
			}
			out[j].n++;
		}
	}
	return np;
}

static void pair_name(struct sim *s, const struct pair *p, char *out, size_t n)
{
	if (p->model == 0)
		snprintf(out, n, "-");
	else
		snprintf(out, n, "%s:%s", s->strings[p->model], s->strings[p->version]);
}

void report_progress(struct sim *s, uint64_t now_ms, int final)
{
	struct pair pairs[MAX_PAIRS];
	size_t np = count_versions(s, -1, pairs);
	double dt = (double)(now_ms - s->last_progress_ms) / 1000.0;
	char line[1024], name[300];
	size_t len = 0;

	if (s->o.quiet)
		return;
	if (dt <= 0)
		dt = 1;
	len += (size_t)snprintf(line + len, sizeof(line) - len, "[%6.1fs] %zu devices |",
				(double)(now_ms - s->start_ms) / 1000.0, s->nactive);
	for (size_t i = 0; i < np && len < sizeof(line) - 80; i++) {
		pair_name(s, &pairs[i], name, sizeof(name));
		len += (size_t)snprintf(line + len, sizeof(line) - len, " %s %llu", name,
					(unsigned long long)pairs[i].n);
	}
	snprintf(line + len, sizeof(line) - len,
		 " | polls %.0f/s | reports %.0f/s | installs %llu failed %llu | errors %llu",
		 (double)(s->st.polls - s->last.polls) / dt,
		 (double)(s->st.reports_sent - s->last.reports_sent) / dt,
		 (unsigned long long)s->st.installs, (unsigned long long)s->st.install_failures,
		 (unsigned long long)(s->st.poll_errors + s->st.telemetry_errors +
				      s->st.status_errors + s->st.enroll_errors));
	if (isatty(2) && !final)
		fprintf(stderr, "\r%-150.150s", line);
	else
		fprintf(stderr, "%s%s\n", isatty(2) ? "\r" : "", line);
	s->last = s->st;
	s->last_progress_ms = now_ms;
}

static void json_versions(struct sim *s, FILE *f, int plat)
{
	struct pair pairs[MAX_PAIRS];
	size_t np = count_versions(s, plat, pairs);
	char name[300];

	fputc('{', f);
	for (size_t i = 0; i < np; i++) {
		pair_name(s, &pairs[i], name, sizeof(name));
		fprintf(f, "%s\"%s\": %llu", i ? ", " : "", name, (unsigned long long)pairs[i].n);
	}
	fputc('}', f);
}

#define U(x) ((unsigned long long)(x))

static void summary_json(struct sim *s, FILE *f)
{
	const struct sim_stats *t = &s->st;
	double el = (double)(sim_now_ms() - s->start_ms) / 1000.0;

	fprintf(f, "{\"devices\": %zu, \"elapsed_s\": %.3f, \"versions\": ", s->nactive, el);
	json_versions(s, f, -1);
	fprintf(f, ", \"platforms\": {");
	for (size_t p = 0; p < s->spec.nplatforms; p++) {
		size_t n = 0;

		for (size_t i = 0; i < s->nactive; i++)
			n += s->devs[i].active && s->devs[i].platform == p;
		fprintf(f, "%s\"%s\": {\"devices\": %zu, \"versions\": ", p ? ", " : "",
			s->spec.platforms[p].name, n);
		json_versions(s, f, (int)p);
		fprintf(f,
			", \"polls\": %llu, \"status_posts\": %llu, \"installs\": %llu,"
			" \"install_failures\": %llu, \"reports\": %llu}",
			U(s->plat[p].polls), U(s->plat[p].status_posts), U(s->plat[p].installs),
			U(s->plat[p].install_failures), U(s->plat[p].reports));
	}
	fprintf(f,
		"}, \"polls\": %llu, \"polls_200\": %llu, \"polls_304\": %llu,"
		" \"poll_errors\": %llu, \"poll_ms_mean\": %.3f, \"poll_ms_max\": %.3f,"
		" \"reports_sent\": %llu, \"reports_accepted\": %llu, \"reports_rejected\": %llu,"
		" \"reports_dropped\": %llu, \"telemetry_posts\": %llu, \"telemetry_errors\": %llu,"
		" \"status_posts\": %llu, \"status_errors\": %llu, \"installs\": %llu,"
		" \"install_failures\": %llu, \"downloads\": %llu, \"download_bytes\": %llu,"
		" \"digest_mismatches\": %llu, \"enrolled\": %llu, \"enroll_errors\": %llu,"
		" \"poll_after_s\": %d}\n",
		U(t->polls), U(t->polls_200), U(t->polls_304), U(t->poll_errors),
		t->polls ? t->poll_secs_sum * 1000 / (double)t->polls : 0, t->poll_secs_max * 1000,
		U(t->reports_sent), U(t->reports_accepted), U(t->reports_rejected),
		U(s->reports_dropped), U(t->telemetry_posts), U(t->telemetry_errors),
		U(t->status_posts), U(t->status_errors), U(t->installs), U(t->install_failures),
		U(t->downloads), U(t->download_bytes), U(t->digest_mismatches), U(t->enrolled),
		U(t->enroll_errors), s->server_poll_s);
}

void report_summary(struct sim *s, FILE *f, int json)
{
	const struct sim_stats *t = &s->st;
	double el = (double)(sim_now_ms() - s->start_ms) / 1000.0;
	struct pair pairs[MAX_PAIRS];
	size_t np = count_versions(s, -1, pairs);
	char name[300];

	if (json) {
		summary_json(s, f);
		return;
	}
	fprintf(f, "ramp-sim: %zu devices for %.1fs\n", s->nactive, el);
	for (size_t i = 0; i < np; i++) {
		pair_name(s, &pairs[i], name, sizeof(name));
		fprintf(f, "  %-40s %llu devices\n", name, U(pairs[i].n));
	}
	fprintf(f, "  polls %llu (200: %llu, 304: %llu, errors %llu), %.1f/s, mean %.2f ms\n",
		U(t->polls), U(t->polls_200), U(t->polls_304), U(t->poll_errors),
		el > 0 ? (double)t->polls / el : 0,
		t->polls ? t->poll_secs_sum * 1000 / (double)t->polls : 0);
	fprintf(f, "  reports %llu sent, %llu accepted, %llu rejected, %llu dropped (%.1f/s)\n",
		U(t->reports_sent), U(t->reports_accepted), U(t->reports_rejected),
		U(s->reports_dropped), el > 0 ? (double)t->reports_sent / el : 0);
	fprintf(f, "  installs %llu, failed %llu, status posts %llu (errors %llu)\n",
		U(t->installs), U(t->install_failures), U(t->status_posts), U(t->status_errors));
}

void report_stats_file(struct sim *s)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", s->o.stats_file);
	if ((f = fopen(tmp, "w")) == NULL)
		return;
	summary_json(s, f);
	if (fclose(f) == 0)
		rename(tmp, s->o.stats_file);
}
