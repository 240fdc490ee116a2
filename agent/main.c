/*
 * main.c - ramp-agent, the on-device agent for Pi-class devices (DESIGN.md,
 * docs/agent.md): the shared agent loop (agent/lib/agent.h) with hooks for
 * an inference process that runs on its own and reads
 * <model-dir>/<model>/current/model.
 *
 *   ramp-agent [--config FILE] [--key value ...]
 *
 * FILE defaults to /etc/ramp/agent.conf when it exists.  After the loop
 * points current at a new version, install runs the reload action (a
 * signal to the pid in reload-pidfile, and/or reload-cmd under sh -c with
 * RAMP_MODEL, RAMP_VERSION and RAMP_MODEL_PATH set), then the health check
 * (health-cmd until it exits 0, or health-url until it answers 2xx, within
 * health-timeout).  Only then is the version installed; otherwise the loop
 * points current back and restore runs the reload action for the old one.
 * SIGHUP re-reads the configuration.
 */
#include "agent.h"
#include "common/clock.h"
#include "store.h"

#include "common/log.h"
#include "common/version.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define AGENT_VERSION "ramp-agent/2"
#define DEFAULT_CONFIG "/etc/ramp/agent.conf"
#define MAX_LOADS 16

static struct agent *the_agent;

/* The reload time of each model's last install, for its health report. */
static struct {
	char model[64];
	double ms;
} loads[MAX_LOADS];
static size_t nloads;
static pthread_mutex_t loads_lock = PTHREAD_MUTEX_INITIALIZER;

static void on_signal(int sig)
{
	if (the_agent == NULL)
		return;
	if (sig == SIGHUP)
		agent_reload(the_agent);
	else
		agent_stop(the_agent);
}

static void sleep_s(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
	nanosleep(&ts, NULL);
}

/*
 * Runs cmd under sh -c with the model's variables, waiting at most
 * timeout_s (then it is killed).  Its exit status, 128+signal, or -1 when
 * it could not start or timed out (*timed_out set).
 */
static int run_cmd(const char *cmd, const char *model, const char *version, const char *path,
		   double timeout_s, int *timed_out)
{
	double until = clock_mono_s() + timeout_s;
	pid_t pid, w;
	int st = 0;

	*timed_out = 0;
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		setenv("RAMP_MODEL", model, 1);
		setenv("RAMP_VERSION", version, 1);
		setenv("RAMP_MODEL_PATH", path, 1);
		setpgid(0, 0);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	while ((w = waitpid(pid, &st, WNOHANG)) == 0 || (w < 0 && errno == EINTR)) {
		if (clock_mono_s() > until) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			*timed_out = 1;
			return -1;
		}
		sleep_s(0.005);
	}
	if (w < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int signal_named(const char *name)
{
	static const struct {
		const char *name;
		int sig;
	} sigs[] = {{"HUP", SIGHUP}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"INT", SIGINT},
		    {"TERM", SIGTERM}, {"QUIT", SIGQUIT}, {"CONT", SIGCONT}};
	char *end;
	long n;

	if (strncmp(name, "SIG", 3) == 0)
		name += 3;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (strcmp(name, sigs[i].name) == 0)
			return sigs[i].sig;
	n = strtol(name, &end, 10);
	return *name && !*end && n > 0 && n < 65 ? (int)n : -1;
}

/* Sends reload-signal to the process named by reload-pidfile; 0 or an error. */
static int signal_pidfile(const struct conf *c, struct ramp_err *err)
{
	FILE *f = fopen(c->reload_pidfile, "r");
	long pid = 0;
	int sig = signal_named(c->reload_signal);

	if (sig < 0)
		return ramp_err_set(err, RAMP_EINVAL, "reload-signal", "reload: unknown signal %s",
				    c->reload_signal);
	if (f == NULL)
		return ramp_err_set(err, RAMP_EINVAL, "reload-pidfile", "reload: cannot read %s: %s",
				    c->reload_pidfile, strerror(errno));
	if (fscanf(f, "%ld", &pid) != 1 || pid <= 1) {
		fclose(f);
		return ramp_err_set(err, RAMP_EINVAL, "reload-pidfile", "reload: %s holds no pid",
				    c->reload_pidfile);
	}
	fclose(f);
	if (kill((pid_t)pid, sig) != 0)
		return ramp_err_set(err, RAMP_EINVAL, "reload-pidfile",
				    "reload: cannot signal pid %ld: %s", pid, strerror(errno));
	return 0;
}

/* The reload action: the signal, then the command (either may be unset). */
static int reload_action(const struct conf *c, const char *model, const char *version,
			 const char *path, struct ramp_err *err)
{
	int st, to;

	if (c->reload_pidfile[0] && signal_pidfile(c, err) != 0)
		return err->code;
	if (!c->reload_cmd[0])
		return 0;
	st = run_cmd(c->reload_cmd, model, version, path, c->health_timeout_s, &to);
	if (to)
		return ramp_err_set(err, RAMP_EINVAL, "reload-cmd",
				    "reload: command did not finish within %.0f s", c->health_timeout_s);
	if (st != 0)
		return ramp_err_set(err, RAMP_EINVAL, "reload-cmd", "reload: command exited with %d",
				    st);
	return 0;
}

static size_t discard(char *p, size_t size, size_t n, void *cls)
{
	(void)p;
	(void)cls;
	return size * n;
}

/* One GET of the health URL: the HTTP status, or 0 when it could not be reached. */
static long health_get(const char *url, const char *ca, double timeout_s)
{
	CURL *h = curl_easy_init();
	long code = 0;

	if (h == NULL)
		return 0;
	curl_easy_setopt(h, CURLOPT_URL, url);
	if (ca[0]) /* the configured CA bundle, as for the controller */
		curl_easy_setopt(h, CURLOPT_CAINFO, ca);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(fmax(timeout_s, 0.1) * 1000));
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(h);
	return code;
}

/*
 * The health check after a reload: health-cmd until it exits 0, or
 * health-url until it answers 2xx, tried again (every 0.2 s growing to 2 s)
 * until health-timeout.  0 when healthy or when no check is configured.
 */
static int health_check(const struct conf *c, const char *model, const char *version,
			const char *path, struct ramp_err *err)
{
	double until = clock_mono_s() + c->health_timeout_s, wait = 0.2;
	int tries = 0, last = 0, to = 0;

	if (!c->health_cmd[0] && !c->health_url[0])
		return 0;
	for (;;) {
		double left = until - clock_mono_s();
		tries++;
		if (c->health_cmd[0])
			last = run_cmd(c->health_cmd, model, version, path, fmax(left, 0.1), &to);
		else
			last = (int)health_get(c->health_url, c->tls_ca, fmin(fmax(left, 0.1), 10));
		if (c->health_cmd[0] ? last == 0 : last >= 200 && last < 300)
			return 0;
		if (clock_mono_s() + wait > until)
			break;
		sleep_s(wait);
		wait = fmin(wait * 2, 2);
	}
	if (c->health_cmd[0])
		return ramp_err_set(err, RAMP_EINVAL, "health-cmd",
				    "health check: command %s after %d tries in %.0f s",
				    to ? "timed out" : "failed", tries, c->health_timeout_s);
	return ramp_err_set(err, RAMP_EINVAL, "health-url",
			    "health check: %s answered %d after %d tries in %.0f s", c->health_url,
			    last, tries, c->health_timeout_s);
}

static void note_load(const char *model, double ms)
{
	size_t i;

	pthread_mutex_lock(&loads_lock);
	for (i = 0; i < nloads && strcmp(loads[i].model, model); i++)
		;
	if (i < MAX_LOADS) {
		if (i == nloads)
			nloads++;
		snprintf(loads[i].model, sizeof(loads[i].model), "%s", model);
		loads[i].ms = ms;
	}
	pthread_mutex_unlock(&loads_lock);
}

static int hook_install(void *cls, const struct desired_model *m, const char *path,
			double *load_ms, struct ramp_err *err)
{
	const struct conf *c = agent_conf(the_agent);
	double t0 = clock_mono_s();

	(void)cls;
	if (reload_action(c, m->model, m->version, path, err) != 0 ||
	    health_check(c, m->model, m->version, path, err) != 0)
		return err->code;
	*load_ms = (clock_mono_s() - t0) * 1e3;
	note_load(m->model, *load_ms);
	log_info("msg=\"model swapped in\" model=%s version=%s path=%s confirm_ms=%.1f", m->model,
		 m->version, path, *load_ms);
	return 0;
}

static void hook_restore(void *cls, const char *model, const char *old_version, const char *path)
{
	struct ramp_err err = {0};

	(void)cls;
	if (reload_action(agent_conf(the_agent), model, old_version, path, &err) != 0)
		log_error("msg=\"reload for the restored version failed\" model=%s version=%s "
			  "reason=\"%s\"", model, old_version, err.msg);
}

/*
 * A health report for each model that runs and sent no inference figures
 * this interval (rampd counts it as one sample: API.md, requests defaults
 * to 1), with the last reload's time.
 */
static void hook_collect(void *cls, json_t *reports)
{
	(void)cls;
	pthread_mutex_lock(&loads_lock);
	for (size_t i = 0; i < nloads; i++) {
		char label[200];
		size_t j, n = strlen(loads[i].model);
		json_t *r;
		int seen = 0;
		if (agent_label(the_agent, loads[i].model, label, sizeof(label)) != 0)
			continue;
		json_array_foreach(reports, j, r) {
			const char *l = json_string_value(json_object_get(r, "model"));
			seen |= l && strncmp(l, loads[i].model, n) == 0 && l[n] == ':';
		}
		if (!seen)
			json_array_append_new(reports, json_pack("{s:s, s:f}", "model", label,
								 "model_load_ms", loads[i].ms));
	}
	pthread_mutex_unlock(&loads_lock);
}

/* A version found running at start: the inference process reads current itself. */
static int hook_resume(void *cls, const char *model, const char *version, const char *digest,
		       const char *path)
{
	(void)cls;
	(void)version;
	(void)digest;
	(void)path;
	note_load(model, 0);
	return 0;
}

/* --status: one model's store, as the agent left it. */
static void status_model(void *cls, const char *model)
{
	const struct conf *c = cls;
	char cur[MSTORE_VERSION_MAX], prev[MSTORE_VERSION_MAX], old[MSTORE_VERSION_MAX];
	char digest[80], dir[PATH_MAX], path[PATH_MAX + 300];
	struct dirent *de;
	DIR *d;

	if (mstore_link(c->model_dir, model, "current", cur, digest, sizeof(digest)) != 0)
		snprintf(cur, sizeof(cur), "none"), digest[0] = 0;
	if (mstore_link(c->model_dir, model, "previous", prev, NULL, 0) != 0)
		snprintf(prev, sizeof(prev), "none");
	printf("model %s: current %s%s%s%s, previous %s\n", model, cur, digest[0] ? " (" : "",
	       digest, digest[0] ? ")" : "", prev);
	if (mstore_pending_get(c->model_dir, model, old))
		printf("model %s: a swap is not confirmed yet (from %s)\n", model, old[0] ? old : "none");
	snprintf(dir, sizeof(dir), "%s/%s/.partial", c->model_dir, model);
	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		printf("model %s: partial download sha256:%.12s..., %.1f MiB so far\n", model,
		       de->d_name, (double)mstore_size(path) / (1024.0 * 1024.0));
	}
	closedir(d);
}

/* --status: what this device runs and holds, read from its files (the agent may be running). */
static int print_status(const struct conf *c)
{
	char path[PATH_MAX], id[129] = "";
	struct dirent *de;
	size_t batches = 0;
	FILE *f;
	DIR *d;

	snprintf(path, sizeof(path), "%s/device.id", c->state_dir);
	if ((f = fopen(path, "r")) != NULL) {
		if (fgets(id, sizeof(id), f))
			id[strcspn(id, "\r\n")] = 0;
		fclose(f);
	}
	printf("device %s, controller %s\n", id[0] ? id : "(not seen by the controller yet)",
	       c->controller);
	printf("credential: %s\n", c->token[0] ? (access(c->token_file, F_OK) == 0 ? c->token_file
								     : "token in the configuration")
			       : c->enroll_token[0] ? "none yet: enrolls with the enroll token"
						    : "client certificate alone");
	printf("model store %s, %.0f MiB free\n", c->model_dir, mstore_free_mb(c->model_dir));
	mstore_models(c->model_dir, status_model, (void *)c);
	snprintf(path, sizeof(path), "%s/telemetry", c->state_dir);
	if ((d = opendir(path)) != NULL) {
		while ((de = readdir(d)) != NULL)
			batches += de->d_name[0] != '.' && strstr(de->d_name, ".json") != NULL;
		closedir(d);
	}
	printf("telemetry waiting to be sent: %zu batch%s in %s\n", batches, batches == 1 ? "" : "es",
	       path);
	return 0;
}

static int usage(const char *why)
{
	fprintf(stderr, "ramp-agent: %s\n"
			"usage: ramp-agent [--config FILE] [--controller URL] [--token T | --token-file F |\n"
			"                  --enroll-token T] --pubkey KEY.pem[,KEY2.pem] [--state-dir DIR]\n"
			"                  [--model-dir DIR] [--platform P] [--reload-cmd CMD] ... [--status]\n"
			"--status prints what the device runs and holds, and exits; --version its version.\n"
			"FILE defaults to " DEFAULT_CONFIG "; docs/agent.md lists every key.\n",
		why);
	return 2;
}

int main(int argc, char **argv)
{
	struct conf defaults = {.state_dir = "/var/lib/ramp", .telemetry_s = 30, .min_free_mb = 64};
	struct agent_hooks hooks = {NULL, 0, hook_install, NULL, hook_restore, hook_resume,
				    hook_collect, NULL /* shadow: the <model>/shadow link */};
	struct conf_src src;
	struct ramp_err err = {0};
	struct sigaction sa;
	char other[256] = {0};
	int status = 0;

	if (argc == 2 && strcmp(argv[1], "--version") == 0)
		return version_print("ramp-agent");
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage("the on-device agent of ramp");
		return 0;
	}
	for (int i = 1; i < argc; i++) { /* --status: a flag, so taken out before the pairs */
		if (strcmp(argv[i], "--status") != 0)
			continue;
		memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof(argv[0]));
		argc--;
		status = 1;
		break;
	}
	if (status) {
		struct conf c;
		if (conf_args(argc, argv, 1, &src, NULL, &err) != 0)
			return usage(err.msg);
		if (!src.config_path[0] && access(DEFAULT_CONFIG, R_OK) == 0)
			snprintf(src.config_path, sizeof(src.config_path), "%s", DEFAULT_CONFIG);
		if (conf_build(&defaults, &src, &c, &err) != 0) {
			fprintf(stderr, "ramp-agent: %s%s%s\n", err.field, err.field[0] ? ": " : "",
				err.msg);
			return 2;
		}
		print_status(&c);
		conf_free(&c);
		return 0;
	}
	if (argc > 256 || conf_args(argc, argv, 1, &src, other, &err) != 0)
		return usage(argc > 256 ? "too many arguments" : err.msg);
	for (int i = 1; i < argc; i += 2)
		if (other[i]) {
			snprintf(err.msg, sizeof(err.msg), "unknown option %s", argv[i]);
			return usage(err.msg);
		}
	if (!src.config_path[0] && access(DEFAULT_CONFIG, R_OK) == 0)
		snprintf(src.config_path, sizeof(src.config_path), "%s", DEFAULT_CONFIG);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if ((the_agent = agent_new(&defaults, &src, &hooks, AGENT_VERSION, &err)) == NULL) {
		fprintf(stderr, "ramp-agent: %s%s%s\n", err.field, err.field[0] ? ": " : "", err.msg);
		curl_global_cleanup();
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	log_info("msg=\"ramp-agent started\" controller=%s model_dir=%s state_dir=%s",
		 agent_conf(the_agent)->controller, agent_conf(the_agent)->model_dir,
		 agent_conf(the_agent)->state_dir);
	agent_run(the_agent);
	agent_free(the_agent);
	curl_global_cleanup();
	return 0;
}
