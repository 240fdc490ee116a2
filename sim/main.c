/*
 * main.c - ramp-sim: a fleet of simulated devices against a rampd server.
 *
 *   ramp-sim --server http://127.0.0.1:18080 --token $ADMIN --devices 1000 \
 *            --platforms rpi-arm64:0.7,cloud-x86-onnx:0.3 --labels site=wh-{1..20} \
 *            --fault 2026.02.01@rpi-arm64:errors=0.03,latency_x=2.5
 *
 * Flags are described in docs/sim.md and by --help. Exit status: 0 when the
 * run finished (by --duration, --once or a signal), 1 when enrollment or
 * the flood failed, 2 on bad flags.
 */
#include "sim.h"
#include "common/clock.h"
#include "common/version.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t stop_flag, late_flag;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		late_flag = 1;
	else
		stop_flag = 1;
}

uint64_t sim_now_ms(void)
{
	return net_now_ns() / 1000000ULL;
}

double sim_wall(void)
{
	return clock_wall_s();
}

uint16_t sim_intern(struct sim *s, const char *str)
{
	if (str == NULL || *str == '\0')
		return 0;
	for (size_t i = 1; i < s->nstrings; i++)
		if (strcmp(s->strings[i], str) == 0)
			return (uint16_t)i;
	if (s->nstrings == SIM_MAX_STRINGS || (s->strings[s->nstrings] = strdup(str)) == NULL)
		return 0;
	return (uint16_t)s->nstrings++;
}

int sim_alloc_devices(struct sim *s)
{
	size_t n = (size_t)(s->o.devices + s->o.late);

	if ((s->devs = calloc(n ? n : 1, sizeof(*s->devs))) == NULL)
		return -1;
	s->ndevs = n;
	for (size_t i = 0; i < n; i++) {
		struct device *d = &s->devs[i];
		char id[160];

		snprintf(id, sizeof(id), "%s-%06zu", s->o.prefix, i);
		if ((d->id = strdup(id)) == NULL)
			return -1;
		d->platform = (uint8_t)spec_platform_of(&s->spec, i, n);
		/* devices differ a little in speed: log-normal, 10% */
		d->speed = (float)exp(0.1 * spec_rng_normal(&s->rng));
	}
	return 0;
}

static const char usage[] =
	"usage: ramp-sim [flags]\n"
	"  --server URL            rampd base URL (default $RAMP_URL or http://127.0.0.1:8080)\n"
	"  --token TOKEN           operator/admin token for enrollment (default $RAMP_TOKEN)\n"
	"  --devices N             devices to enroll (default 100)\n"
	"  --prefix P              device ids P-000000.. (default sim)\n"
	"  --platforms SPEC        name:weight,... (default rpi-arm64:0.7,cloud-x86-onnx:0.3)\n"
	"  --labels SPEC           k=v,k=wh-{1..20},k={a,b} (repeatable)\n"
	"  --fault SPEC            version[@platform]:errors=R,latency_x=X,\n"
	"                          confidence_shift=D,install_fail=P (repeatable)\n"
	"  --poll-interval S       seconds between polls (default: the server's poll_after_s)\n"
	"  --jitter F              +-fraction of each interval (default 0.1)\n"
	"  --report-interval S     seconds between telemetry reports (default 10)\n"
	"  --telemetry MODE        device | gateway | off (default device)\n"
	"  --gateway-batch N       reports per gateway POST (default 1000; flood: batch)\n"
	"  --ingest-token TOKEN    for gateway and flood (default: made with --token)\n"
	"  --rps R                 requests a device serves per second (default 10)\n"
	"  --latency-ms MS         healthy median latency (default 40)\n"
	"  --error-rate R          healthy error rate (default 0.002)\n"
	"  --install-time S        simulated download time (default 0.2)\n"
	"  --download              really GET artifacts (Range) and check the digest\n"
	"  --late N[@S]            enroll N more devices S seconds after the start,\n"
	"                          or at SIGUSR1 (either comes first)\n"
	"  --concurrency N         requests in flight (default 64)\n"
	"  --duration S            stop after S seconds (default: at SIGINT/SIGTERM)\n"
	"  --once                  every device polls once, then exit\n"
	"  --tokens-in FILE        use devices from FILE instead of enrolling\n"
	"  --tokens-out FILE       write \"id token platform etag\" lines at exit\n"
	"  --enroll-batch N        devices per bulk enrollment (default 5000, max 10000)\n"
	"  --flood S               telemetry load: post batches for S seconds, print JSON\n"
	"  --flood-model M:V       the model:version flood reports name\n"
	"  --stats-file FILE       rewrite the JSON summary there twice a second\n"
	"  --progress S            progress line every S seconds, 0 off (default 1)\n"
	"  --json                  print the summary as JSON on stdout\n"
	"  --quiet                 no progress line\n"
	"  --seed N                random seed (default 1)\n"
	"  --version               print the version and commit, and exit\n";

enum {
	O_SERVER = 256, O_TOKEN, O_DEVICES, O_PREFIX, O_PLATFORMS, O_LABELS, O_FAULT, O_POLL,
	O_JITTER, O_REPORT, O_TELEMETRY, O_GWBATCH, O_INGEST, O_RPS, O_LATENCY, O_ERRRATE,
	O_INSTALL, O_DOWNLOAD, O_LATE, O_CONC, O_DURATION, O_ONCE, O_TIN, O_TOUT, O_EBATCH,
	O_FLOOD, O_FLOODMODEL, O_STATS, O_PROGRESS, O_JSON, O_QUIET, O_SEED, O_HELP
};

static const struct option longopts[] = {
	{"server", 1, 0, O_SERVER},	    {"token", 1, 0, O_TOKEN},
	{"devices", 1, 0, O_DEVICES},	    {"prefix", 1, 0, O_PREFIX},
	{"platforms", 1, 0, O_PLATFORMS},   {"labels", 1, 0, O_LABELS},
	{"fault", 1, 0, O_FAULT},	    {"poll-interval", 1, 0, O_POLL},
	{"jitter", 1, 0, O_JITTER},	    {"report-interval", 1, 0, O_REPORT},
	{"telemetry", 1, 0, O_TELEMETRY},   {"gateway-batch", 1, 0, O_GWBATCH},
	{"ingest-token", 1, 0, O_INGEST},   {"rps", 1, 0, O_RPS},
	{"latency-ms", 1, 0, O_LATENCY},    {"error-rate", 1, 0, O_ERRRATE},
	{"install-time", 1, 0, O_INSTALL},  {"download", 0, 0, O_DOWNLOAD},
	{"late", 1, 0, O_LATE},		    {"concurrency", 1, 0, O_CONC},
	{"duration", 1, 0, O_DURATION},	    {"once", 0, 0, O_ONCE},
	{"tokens-in", 1, 0, O_TIN},	    {"tokens-out", 1, 0, O_TOUT},
	{"enroll-batch", 1, 0, O_EBATCH},   {"flood", 1, 0, O_FLOOD},
	{"flood-model", 1, 0, O_FLOODMODEL}, {"stats-file", 1, 0, O_STATS},
	{"progress", 1, 0, O_PROGRESS},	    {"json", 0, 0, O_JSON},
	{"quiet", 0, 0, O_QUIET},	    {"seed", 1, 0, O_SEED},
	{"help", 0, 0, O_HELP},		    {0, 0, 0, 0}};

static int num(const char *flag, const char *v, double lo, double hi, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(v, &end);
	if (errno || end == v || *end || !isfinite(*out) || *out < lo || *out > hi) {
		fprintf(stderr, "ramp-sim: --%s: must be a number from %g to %g\n", flag, lo, hi);
		return -1;
	}
	return 0;
}

static int parse_late(struct sim_opts *o, const char *v)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || end == v || (*end != '@' && *end) || n < 0 || n > 1000000)
		goto bad;
	o->late = n;
	o->late_after_s = -1; /* only at SIGUSR1 */
	if (*end == '\0')
		return 0;
	v = end + 1;
	o->late_after_s = strtod(v, &end);
	if (end == v || *end || !isfinite(o->late_after_s) || o->late_after_s < 0)
		goto bad;
	return 0;
bad:
	fprintf(stderr, "ramp-sim: --late: expected N or N@SECONDS, e.g. 20@5\n");
	return -1;
}

static void defaults(struct sim_opts *o)
{
	o->server = getenv("RAMP_URL") ? getenv("RAMP_URL") : "http://127.0.0.1:8080";
	o->token = getenv("RAMP_TOKEN");
	o->prefix = "sim";
	o->devices = 100;
	o->enroll_batch = 5000;
	o->jitter = 0.1;
	o->report_s = 10;
	o->rps = 10;
	o->install_s = 0.2;
	o->gateway_batch = 1000;
	o->concurrency = 64;
	o->progress_s = 1;
	o->seed = 1;
	o->telemetry = TELEM_DEVICE;
}

/* One flag; 0, or -1 after printing why. */
static int take_flag(struct sim *s, int c, const char *v)
{
	struct sim_opts *o = &s->o;
	char err[256];
	double x;
	int rc = 0;

	switch (c) {
	case O_SERVER: o->server = v; break;
	case O_TOKEN: o->token = v; break;
	case O_PREFIX: o->prefix = v; break;
	case O_INGEST: o->ingest_token = v; break;
	case O_TIN: o->tokens_in = v; break;
	case O_TOUT: o->tokens_out = v; break;
	case O_STATS: o->stats_file = v; break;
	case O_FLOODMODEL: o->flood_model = v; break;
	case O_DOWNLOAD: o->download = 1; break;
	case O_ONCE: o->once = 1; break;
	case O_JSON: o->json = 1; break;
	case O_QUIET: o->quiet = 1; break;
	case O_DEVICES: rc = num("devices", v, 0, 2e6, &x); o->devices = (long)x; break;
	case O_EBATCH: rc = num("enroll-batch", v, 1, 10000, &x); o->enroll_batch = (long)x; break;
	case O_POLL: rc = num("poll-interval", v, 0, 86400, &o->poll_s); break;
	case O_JITTER: rc = num("jitter", v, 0, 0.9, &o->jitter); break;
	case O_REPORT: rc = num("report-interval", v, 0.05, 86400, &o->report_s); break;
	case O_RPS: rc = num("rps", v, 0, 1e6, &o->rps); break;
	case O_LATENCY: rc = num("latency-ms", v, 0.01, 1e6, &s->gen.median_ms); break;
	case O_ERRRATE: rc = num("error-rate", v, 0, 1, &s->gen.error_rate); break;
	case O_INSTALL: rc = num("install-time", v, 0, 3600, &o->install_s); break;
	case O_DURATION: rc = num("duration", v, 0, 1e7, &o->duration_s); break;
	case O_FLOOD: rc = num("flood", v, 0.1, 1e6, &o->flood_s); break;
	case O_PROGRESS: rc = num("progress", v, 0, 3600, &o->progress_s); break;
	case O_CONC: rc = num("concurrency", v, 1, 4096, &x); o->concurrency = (int)x; break;
	case O_GWBATCH: rc = num("gateway-batch", v, 1, 10000, &x); o->gateway_batch = (int)x; break;
	case O_SEED: rc = num("seed", v, 0, 9e15, &x); o->seed = (uint64_t)x; break;
	case O_LATE: rc = parse_late(o, v); break;
	case O_TELEMETRY:
		if (strcmp(v, "device") == 0)
			o->telemetry = TELEM_DEVICE;
		else if (strcmp(v, "gateway") == 0)
			o->telemetry = TELEM_GATEWAY;
		else if (strcmp(v, "off") == 0)
			o->telemetry = TELEM_OFF;
		else
			return fprintf(stderr, "ramp-sim: --telemetry: device, gateway or off\n"), -1;
		break;
	case O_PLATFORMS:
	case O_LABELS:
	case O_FAULT:
		rc = c == O_PLATFORMS ? spec_parse_platforms(&s->spec, v, err, sizeof(err))
		     : c == O_LABELS  ? spec_parse_labels(&s->spec, v, err, sizeof(err))
				      : spec_parse_fault(&s->spec, v, err, sizeof(err));
		if (rc != 0)
			fprintf(stderr, "ramp-sim: --%s\n", err);
		break;
	default:
		fputs(usage, stderr);
		return -1;
	}
	return rc;
}

static int parse_args(struct sim *s, int argc, char **argv)
{
	char err[256];
	int c;

	defaults(&s->o);
	gen_defaults(&s->gen);
	if (spec_parse_platforms(&s->spec, "rpi-arm64:0.7,cloud-x86-onnx:0.3", err, sizeof(err)))
		return -1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == O_HELP) {
			fputs(usage, stdout);
			exit(0);
		}
		if (take_flag(s, c, optarg) != 0)
			return -1;
	}
	if (optind < argc) {
		fprintf(stderr, "ramp-sim: unexpected argument \"%s\"\n", argv[optind]);
		return -1;
	}
	if (!s->o.tokens_in && s->o.token == NULL && getenv("RAMP_ADMIN_TOKEN"))
		s->o.token = getenv("RAMP_ADMIN_TOKEN");
	if (!s->o.tokens_in && s->o.token == NULL) {
		fprintf(stderr, "ramp-sim: --token (or $RAMP_TOKEN) is needed to enroll devices\n");
		return -1;
	}
	return 0;
}

static int setup(struct sim *s)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	s->late_signal = &late_flag;
	signal(SIGPIPE, SIG_IGN);
	s->stop = &stop_flag;
	spec_rng_seed(&s->rng, s->o.seed);
	s->nstrings = 1;
	s->strings[0] = strdup("");
	if (s->o.tokens_in && (s->o.devices = enroll_count(s->o.tokens_in)) < 0)
		return -1;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 ||
	    (s->net = net_new(s->o.server, s->o.concurrency)) == NULL)
		return -1;
	if (sim_alloc_devices(s) != 0) {
		fprintf(stderr, "ramp-sim: out of memory for %ld devices\n", s->o.devices);
		return -1;
	}
	if (s->o.tokens_in)
		return enroll_load(s);
	if (enroll_range(s, 0, (size_t)s->o.devices) != 0) {
		fprintf(stderr, "ramp-sim: enrollment failed\n");
		return -1;
	}
	return 0;
}

static void teardown(struct sim *s)
{
	net_free(s->net);
	sched_free(&s->sched);
	for (size_t i = 0; i < s->ndevs; i++) {
		free(s->devs[i].id);
		free(s->devs[i].token);
	}
	free(s->devs);
	free(s->ready);
	for (size_t i = 0; i < s->nvariants; i++)
		free(s->variants[i].url);
	free(s->variants);
	for (size_t i = 0; i < s->nstrings; i++)
		free(s->strings[i]);
	buf_free(&s->gw);
	spec_free(&s->spec);
	curl_global_cleanup();
}

int main(int argc, char **argv)
{
	static struct sim s;
	int rc = 0;

	if (argc == 2 && strcmp(argv[1], "--version") == 0)
		return version_print("ramp-sim");
	if (parse_args(&s, argc, argv) != 0)
		return 2;
	if (setup(&s) != 0) {
		teardown(&s);
		return 1;
	}
	s.nactive = (size_t)s.o.devices;
	if (s.o.flood_s > 0) {
		rc = flood_run(&s) == 0 ? 0 : 1;
		teardown(&s);
		return rc;
	}
	if (s.o.telemetry == TELEM_GATEWAY && enroll_ingest_token(&s) != 0) {
		fprintf(stderr, "ramp-sim: no ingest token for gateway telemetry\n");
		teardown(&s);
		return 1;
	}
	if (fleet_run(&s) != 0)
		rc = 1;
	if (s.o.progress_s > 0)
		report_progress(&s, sim_now_ms(), 1);
	report_summary(&s, s.o.json ? stdout : stderr, s.o.json);
	if (s.o.tokens_out && enroll_save(&s) != 0)
		rc = 1;
	teardown(&s);
	return rc;
}
