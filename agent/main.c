/*
 * main.c - ramp-agent, the on-device agent for Pi-class devices (DESIGN.md):
 * the shared agent loop (agent/lib/agent.h) with a file-system install.
 *
 *   ramp-agent --controller URL --token T --pubkey KEY.pem --model-dir DIR
 *              [--platform P] [--cache DIR] [--name MODEL] [--reload-cmd CMD]
 *              [--poll S] [--telemetry-interval S] [--config FILE]
 *
 * Verified files live in the cache (by default DIR itself) as sha256-<hex>;
 * DIR/<model> is a symlink to the running one, swapped atomically (a new
 * link renamed over the old), and the previous file is kept for an instant
 * rollback (N+1).  After each swap the reload command runs (sh -c, with
 * RAMP_MODEL, RAMP_VERSION and RAMP_MODEL_PATH set); when it fails the link
 * is put back, the command runs again for the old model, and the version is
 * reported failed.  SIGHUP re-reads the configuration.
 */
#include "agent.h"

#include "common/log.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define AGENT_VERSION "ramp-agent/1"
#define MAX_RUNNING 16

static struct agent *the_agent;

/* What each model runs, for telemetry. */
static struct {
	char label[200];
	double reload_ms;
} running[MAX_RUNNING];
static size_t nrunning;

static void on_signal(int sig)
{
	if (the_agent == NULL)
		return;
	if (sig == SIGHUP)
		agent_reload(the_agent);
	else
		agent_stop(the_agent);
}

static double mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Points DIR/<model> at target with a rename (atomic); 0 or -1 with errno. */
static int relink(const char *dir, const char *model, const char *target)
{
	char link[PATH_MAX], tmp[PATH_MAX];

	snprintf(link, sizeof(link), "%s/%s", dir, model);
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, model);
	unlink(tmp);
	if (symlink(target, tmp) != 0)
		return -1;
	return rename(tmp, link);
}

/* Runs the reload command for model at path; its exit status (0 when there is none). */
static int reload_cmd(const char *cmd, const char *model, const char *version, const char *path)
{
	pid_t pid;
	int st = 0;

	if (!cmd[0])
		return 0;
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		setenv("RAMP_MODEL", model, 1);
		setenv("RAMP_VERSION", version, 1);
		setenv("RAMP_MODEL_PATH", path, 1);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void note_running(const struct desired_model *m, double ms)
{
	char label[200];
	size_t i, n = strlen(m->model);

	snprintf(label, sizeof(label), "%s:%s", m->model, m->version);
	for (i = 0; i < nrunning; i++)
		if (strncmp(running[i].label, m->model, n) == 0 && running[i].label[n] == ':')
			break;
	if (i == MAX_RUNNING)
		return;
	if (i == nrunning)
		nrunning++;
	memcpy(running[i].label, label, sizeof(label));
	running[i].reload_ms = ms;
}

/* Swaps DIR/<model> to the verified file at path and runs the reload command. */
static int activate(const struct desired_model *m, const char *path, double *ms,
		    struct ramp_err *err)
{
	const struct conf *c = agent_conf(the_agent);
	char target[PATH_MAX], old[PATH_MAX] = "", link[PATH_MAX];
	ssize_t n;
	int st;
	double t0 = mono_ms();

	if (realpath(path, target) == NULL)
		return ramp_err_set(err, RAMP_EIO, "file", "cannot resolve %s: %s", path, strerror(errno));
	snprintf(link, sizeof(link), "%s/%s", c->model_dir, m->model);
	if ((n = readlink(link, old, sizeof(old) - 1)) > 0)
		old[n] = 0;
	if (relink(c->model_dir, m->model, target) != 0)
		return ramp_err_set(err, RAMP_EIO, "model-dir", "cannot link %s: %s", link, strerror(errno));
	if ((st = reload_cmd(c->reload_cmd, m->model, m->version, link)) != 0) {
		if (old[0] && relink(c->model_dir, m->model, old) == 0)
			reload_cmd(c->reload_cmd, m->model, "previous", link);
		else if (!old[0])
			unlink(link);
		return ramp_err_set(err, RAMP_EINVAL, "reload-cmd", "reload command exited with %d", st);
	}
	*ms = mono_ms() - t0;
	note_running(m, *ms);
	log_info("msg=\"model swapped in\" model=%s version=%s link=%s", m->model, m->version, link);
	return 0;
}

static int hook_install(void *cls, const struct desired_model *m, const char *path,
			double *load_ms, struct ramp_err *err)
{
	return activate(m, path, load_ms, err);
}

static int hook_swap_back(void *cls, const struct desired_model *m, struct ramp_err *err)
{
	char path[PATH_MAX];
	double ms;

	snprintf(path, sizeof(path), "%s/sha256-%s", agent_conf(the_agent)->cache_dir, m->digest + 7);
	return activate(m, path, &ms, err);
}

/*
 * One health report per running model: the agent does not see the
 * application's requests, so "requests" is left out and rampd counts the
 * report as one sample (API.md: requests defaults to 1).
 */
static void hook_collect(void *cls, json_t *reports)
{
	for (size_t i = 0; i < nrunning; i++)
		json_array_append_new(reports, json_pack("{s:s, s:f}", "model", running[i].label,
							 "model_load_ms", running[i].reload_ms));
}

int main(int argc, char **argv)
{
	struct conf defaults = {.telemetry_s = 30, .max_bytes = (int64_t)4 << 30};
	struct agent_hooks hooks = {NULL, 0, hook_install, hook_swap_back, hook_collect};
	struct conf_src src;
	struct ramp_err err = {0};
	struct sigaction sa;

	if (conf_args(argc, argv, 1, &src, NULL, &err) != 0 || argc < 2) {
		fprintf(stderr, "ramp-agent: %s\nusage: ramp-agent --controller URL --token T "
				"--pubkey KEY.pem --model-dir DIR [--platform P] [--cache DIR]\n"
				"       [--name MODEL] [--reload-cmd CMD] [--poll S] "
				"[--telemetry-interval S] [--config FILE]\n",
			argc < 2 ? "arguments required" : err.msg);
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if ((the_agent = agent_new(&defaults, &src, &hooks, AGENT_VERSION, &err)) == NULL ||
	    !agent_conf(the_agent)->model_dir[0]) {
		fprintf(stderr, "ramp-agent: %s\n", the_agent ? "model-dir is required" : err.msg);
		agent_free(the_agent);
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	agent_run(the_agent);
	agent_free(the_agent);
	curl_global_cleanup();
	return 0;
}
