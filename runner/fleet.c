/*
 * fleet.c - how ramp-runner gets its model: a local file, or from rampd as a
 * fleet agent.
 *
 *   ramp-runner --model FILE --listen ADDR:PORT [--threads N]
 *       serves FILE; SIGHUP loads the file again and swaps it in.
 *   ramp-runner --controller URL --token T --pubkey KEY.pem --listen ADDR:PORT
 *               [--platform cloud-x86-onnx] [--cache DIR] [--name MODEL]
 *               [--poll S] [--telemetry-interval S] [--config FILE] [--threads N]
 *       polls rampd, installs each verified version it is told to run, keeps
 *       the previous one for an instant rollback, posts telemetry; SIGHUP
 *       re-reads the configuration (agent/lib/agent.h does the fleet side).
 *
 * Both install through live.h, so either way a swap never fails a request.
 */
#include "agent.h"
#include "live.h"
#include "runner.h"
#include "serve.h"
#include "shadow.h"

#include "common/log.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int runner_serve_main(int argc, char **argv);

#define RUNNER_AGENT_VERSION "ramp-runner/1"

static volatile sig_atomic_t stop, hup;
static struct agent *the_agent;

static void on_signal(int sig)
{
	if (sig == SIGHUP) {
		hup = 1;
		if (the_agent)
			agent_reload(the_agent);
		return;
	}
	stop = 1;
	if (the_agent)
		agent_stop(the_agent);
}

static void signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* install hook: load, check and swap in the verified file. */
static int hook_install(void *cls, const struct desired_model *m, const char *path,
			double *load_ms, struct ramp_err *err)
{
	struct runner_err rerr = {0};
	struct live_model *lm = live_load(path, m->model, m->version, m->digest, &rerr);

	if (lm == NULL)
		return ramp_err_set(err, RAMP_EINVAL, "model", "load: %s", rerr.msg);
	*load_ms = lm->load_ms;
	live_install(lm);
	log_info("msg=\"model swapped in\" model=%s version=%s load_ms=%.1f", m->model, m->version,
		 *load_ms);
	return 0;
}

static int hook_swap_back(void *cls, const struct desired_model *m, struct ramp_err *err)
{
	if (live_swap_back(m->version, m->digest) != 0)
		return ramp_err_set(err, RAMP_ENOTFOUND, "model", "previous model is not %s",
				    m->version);
	log_info("msg=\"previous model swapped back in\" model=%s version=%s", m->model, m->version);
	return 0;
}

/* At start: load what the store says ran before, so the runner serves it even offline. */
static int hook_resume(void *cls, const char *model, const char *version, const char *digest,
		       const char *path)
{
	const struct conf *c = agent_conf(the_agent);
	struct runner_err rerr = {0};
	struct live_model *lm = live_acquire();

	(void)cls;
	if (lm != NULL) { /* one model per runner: the first one found */
		live_release(lm);
		return -1;
	}
	if (c->model[0] && strcmp(c->model, model) != 0)
		return -1;
	if ((lm = live_load(path, model, version, digest, &rerr)) == NULL) {
		log_warn("msg=\"stored model does not load\" path=%s reason=\"%s\"", path, rerr.msg);
		return -1;
	}
	live_install(lm);
	log_info("msg=\"serving the stored model\" model=%s version=%s", model, version);
	return 0;
}

static void hook_collect(void *cls, json_t *reports)
{
	live_collect(reports);
	shadow_collect(reports);
}

/* shadow hook: load the candidate and run it beside the served model (shadow.h). */
static int hook_shadow(void *cls, const char *model, const struct desired_model *c,
		       const char *path, double fraction, struct ramp_err *err)
{
	struct runner_err rerr = {0};
	struct live_model *lm;

	if (c == NULL) {
		shadow_set(NULL, 0);
		return 0;
	}
	if ((lm = live_load(path, c->model, c->version, c->digest, &rerr)) == NULL)
		return ramp_err_set(err, RAMP_EINVAL, "model", "shadow load: %s", rerr.msg);
	if (shadow_set(lm, fraction) != 0)
		return ramp_err_set(err, RAMP_ENOMEM, "model", "shadow worker did not start");
	log_info("msg=\"shadow model loaded\" model=%s version=%s fraction=%g load_ms=%.1f", model,
		 c->version, fraction, lm->load_ms);
	return 0;
}

/* --shadow FILE [--shadow-fraction F] in local mode: the same, without a controller. */
static int local_shadow(const char *path, double fraction)
{
	struct runner_err err = {0};
	struct live_model *lm;

	if (path == NULL)
		return 0;
	if (!(fraction > 0 && fraction <= 1) ||
	    (lm = live_load(path, "", "shadow", "", &err)) == NULL) {
		fprintf(stderr, "ramp-runner: --shadow %s: %s\n", path,
			fraction > 0 && fraction <= 1 ? err.msg : "--shadow-fraction must be in (0, 1]");
		return -1;
	}
	fprintf(stderr, "ramp-runner: shadow %s on %g of requests\n", path, fraction);
	return shadow_set(lm, fraction);
}

static int local_load(const char *path)
{
	struct runner_err err = {0};
	struct live_model *lm = live_load(path, "", path, "", &err);

	if (lm == NULL) {
		fprintf(stderr, "ramp-runner: %s: %s\n", path, err.msg);
		return -1;
	}
	live_install(lm);
	fprintf(stderr, "ramp-runner: serving %s (load %.1f ms)\n", path, lm->load_ms);
	return 0;
}

static int run_local(const char *model, const struct sockaddr_in *sa, unsigned threads,
		     const char *listen, const char *shadow, double fraction)
{
	void *d;

	if (local_load(model) != 0 || local_shadow(shadow, fraction) != 0)
		return 1;
	if ((d = serve_start(sa, threads, NULL)) == NULL) {
		fprintf(stderr, "ramp-runner: cannot listen on %s\n", listen);
		live_shutdown();
		return 1;
	}
	while (!stop) {
		pause();
		if (hup && !stop) {
			hup = 0;
			local_load(model); /* on failure the old model keeps serving */
		}
	}
	serve_stop(d);
	shadow_shutdown();
	live_shutdown();
	return 0;
}

static int run_agent(const struct conf_src *src, const struct sockaddr_in *sa, unsigned threads,
		     const char *listen)
{
	struct conf defaults = {.platform = "cloud-x86-onnx", .model_dir = "var/runner-cache",
				.telemetry_s = 10, .min_free_mb = 64, .max_bytes = (int64_t)4 << 30};
	struct agent_hooks hooks = {NULL, 1, hook_install, hook_swap_back, NULL, hook_resume,
				    hook_collect, hook_shadow};
	struct ramp_err err = {0};
	void *d;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	if ((the_agent = agent_new(&defaults, src, &hooks, RUNNER_AGENT_VERSION, &err)) == NULL) {
		fprintf(stderr, "ramp-runner: %s\n", err.msg);
		return 2;
	}
	if ((d = serve_start(sa, threads, the_agent)) == NULL) {
		fprintf(stderr, "ramp-runner: cannot listen on %s\n", listen);
		agent_free(the_agent);
		return 1;
	}
	log_info("msg=\"ramp-runner agent started\" listen=%s controller=%s", listen,
		 agent_conf(the_agent)->controller);
	if (stop)
		agent_stop(the_agent);
	agent_run(the_agent);
	serve_stop(d);
	shadow_shutdown();
	live_shutdown();
	agent_free(the_agent);
	the_agent = NULL;
	curl_global_cleanup();
	return 0;
}

static int usage(const char *why)
{
	if (why)
		fprintf(stderr, "ramp-runner: %s\n", why);
	fprintf(stderr, "usage: ramp-runner --model FILE --listen ADDR:PORT [--threads N]\n"
			"                   [--shadow FILE [--shadow-fraction F]]\n"
			"       ramp-runner --controller URL --token T --pubkey KEY.pem --listen ADDR:PORT\n"
			"                   [--platform P] [--cache DIR] [--name MODEL] [--poll S]\n"
			"                   [--telemetry-interval S] [--config FILE] [--threads N]\n");
	return 2;
}

int runner_serve_main(int argc, char **argv)
{
	const char *model = NULL, *listen = NULL, *shadow = NULL;
	unsigned long threads = 2;
	double fraction = 1;
	char other[256] = {0};
	struct conf_src src;
	struct ramp_err err = {0};
	struct sockaddr_in sa;

	if (argc > 256 || conf_args(argc, argv, 1, &src, other, &err) != 0)
		return usage(argc > 256 ? "too many arguments" : err.msg);
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!other[i])
			continue;
		if (strcmp(argv[i], "--model") == 0)
			model = argv[i + 1];
		else if (strcmp(argv[i], "--listen") == 0)
			listen = argv[i + 1];
		else if (strcmp(argv[i], "--threads") == 0)
			threads = strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--shadow") == 0)
			shadow = argv[i + 1];
		else if (strcmp(argv[i], "--shadow-fraction") == 0)
			fraction = strtod(argv[i + 1], NULL);
		else
			return usage("unknown option");
	}
	if (!listen || serve_parse_listen(listen, &sa) || threads < 1 || threads > 256)
		return usage("--listen ADDR:PORT is required (and --threads from 1 to 256)");
	signals();
	if (src.n || src.config_path[0])
		return model ? usage("--model and --controller exclude each other")
			     : run_agent(&src, &sa, (unsigned)threads, listen);
	if (!model)
		return usage("--model FILE or --controller URL is required");
	return run_local(model, &sa, (unsigned)threads, listen, shadow, fraction);
}
