/*
 * rollouts.c - rampctl's rollout commands, after `kubectl argo rollouts`:
 * list, get (a human summary: stage ladder, device progress, analysis,
 * events), create, the operator verbs, and watch, which polls until the
 * rollout ends and exits 0 on succeeded, 1 on rolled_back or aborted, so a
 * CI job can wait on it.
 */
#include "cmd.h"

#include "domain/yaml_json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "-";
}

static long long num(json_t *o, const char *k)
{
	return (long long)json_number_value(json_object_get(o, k));
}

/* "1h", "90s" from seconds. */
static void dur(long long s, char *buf, size_t cap)
{
	if (s < 0)
		s = 0;
	if (s < 120)
		snprintf(buf, cap, "%llds", s);
	else if (s < 7200)
		snprintf(buf, cap, "%lldm", s / 60);
	else if (s < 172800)
		snprintf(buf, cap, "%lldh", s / 3600);
	else
		snprintf(buf, cap, "%lldd", s / 86400);
}

static long long iso_epoch(const char *iso)
{
	struct tm tm;
	const char *p;

	memset(&tm, 0, sizeof(tm));
	if (iso == NULL || (p = strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return 0;
	return (long long)timegm(&tm);
}

/* Metric values in their units: ratios as %, latencies in ms. */
static void metric_text(const char *metric, json_t *v, char *buf, size_t cap)
{
	double d = json_number_value(v);

	if (!json_is_number(v))
		snprintf(buf, cap, "-");
	else if (strcmp(metric, "error_rate") == 0 || strcmp(metric, "install_failure_rate") == 0)
		snprintf(buf, cap, "%.3g%%", d * 100);
	else if (strstr(metric, "latency") || strstr(metric, "_ms"))
		snprintf(buf, cap, "%.4g ms", d);
	else
		snprintf(buf, cap, "%.4g", d);
}

static void bar(json_t *dev, char *buf, size_t cap)
{
	long long assigned = num(dev, "assigned"), target = num(dev, "target");
	int fill;

	if (target < assigned) /* the engine counts the target on its first pass */
		target = assigned;
	fill = target > 0 ? (int)(20 * assigned / target) : 0;
	char b[24];

	for (int i = 0; i < 20; i++)
		b[i] = i < fill ? '#' : '.';
	b[20] = '\0';
	snprintf(buf, cap, "[%s] %lld/%lld assigned, %lld installed, %lld failed", b, assigned,
		 target, num(dev, "installed"), num(dev, "failed"));
}

static void stage_text(json_t *ro, char *buf, size_t cap)
{
	json_t *st = json_object_get(ro, "stage");
	size_t n = json_array_size(json_object_get(json_object_get(ro, "policy_spec"), "stages"));

	snprintf(buf, cap, "%s %g%% (%lld/%zu)", str(st, "name"),
		 json_number_value(json_object_get(st, "size")) * 100, num(st, "index") + 1, n);
}

int cmd_rollouts_list(struct client *c, const struct args *a)
{
	const char *state = arg_get(a, "--state", NULL), *model = arg_get(a, "--model", NULL);
	json_t *all = json_array();
	char *next = NULL, path[1024], *em = NULL;
	struct table t;
	int rc = 0;

	if (state && strcmp(state, "all") && strcmp(state, "active"))
		return usage_error("--state must be active or all");
	if (model)
		em = url_escape(c, model);
	do {
		struct resp r;
		snprintf(path, sizeof(path), "/v1/rollouts?limit=1000&state=%s%s%s%s%s",
			 state ? state : "all", em ? "&model=" : "", em ? em : "",
			 next ? "&after=" : "", next ? next : "");
		free(next);
		next = NULL;
		if ((rc = client_json(c, "GET", path, NULL, &r)) != 0)
			break;
		json_array_extend(all, json_object_get(r.json, "items"));
		if (json_is_string(json_object_get(r.json, "next")))
			next = strdup(json_string_value(json_object_get(r.json, "next")));
		resp_free(&r);
	} while (next);
	free(em);
	if (rc == 0 && c->json_out) {
		print_json(all);
	} else if (rc == 0) {
		size_t i;
		json_t *ro;
		table_init(&t, 7, "ID", "MODEL", "VERSION", "BASELINE", "STATE", "STAGE", "DEVICES");
		json_array_foreach(all, i, ro) {
			char id[32], stage[160], dev[96];
			json_t *d = json_object_get(ro, "devices");
			snprintf(id, sizeof(id), "%lld", num(ro, "id"));
			stage_text(ro, stage, sizeof(stage));
			snprintf(dev, sizeof(dev), "%lld/%lld installed, %lld failed",
				 num(d, "installed"), num(d, "target"), num(d, "failed"));
			table_row(&t, id, str(ro, "model"), str(ro, "version"),
				  str(ro, "baseline_version"), str(ro, "state"), stage, dev);
		}
		table_print(&t);
	}
	json_decref(all);
	return rc;
}

static void print_analysis(json_t *ro)
{
	json_t *an = json_object_get(ro, "analysis"), *row;
	size_t i;
	struct table t;

	printf("\nAnalysis:\n");
	if (json_array_size(an) == 0) {
		printf("  no evaluation yet\n");
		return;
	}
	table_init(&t, 7, "  STAGE", "METRIC", "ARM", "VALUE", "THRESHOLD", "SAMPLES", "RESULT");
	json_array_foreach(an, i, row) {
		char st[32], v[64], s[64];
		snprintf(st, sizeof(st), "  %lld", num(row, "stage") + 1);
		metric_text(str(row, "metric"), json_object_get(row, "value"), v, sizeof(v));
		snprintf(s, sizeof(s), "%lld/%lld dev", num(row, "samples"), num(row, "devices"));
		table_row(&t, st, str(row, "metric"), str(row, "arm"), v,
			  strcmp(str(row, "arm"), "canary") ? "" : str(row, "threshold"), s,
			  str(row, "result"));
	}
	table_print(&t);
}

/* Maintenance windows (docs/windows.md): each stage's, who waits, the next opening. */
static void print_windows(json_t *ro)
{
	json_t *w = json_object_get(ro, "windows"), *per, *l, *spec;
	const char *next = str(w, "next_window_at");
	size_t i, k;
	int any = 0;

	if (!json_is_object(w))
		return;
	per = json_object_get(w, "stages");
	json_array_foreach(per, i, l)
		any |= json_array_size(l) > 0;
	if (!any && num(json_object_get(ro, "devices"), "deferred") == 0)
		return;
	printf("\nWindows:\n");
	json_array_foreach(per, i, l) {
		if (json_array_size(l) == 0)
			continue;
		printf("  stage %zu:", i + 1);
		json_array_foreach(l, k, spec)
			printf("%s \"%s\"", k ? "," : "", json_string_value(spec));
		printf("\n");
	}
	printf("  waiting for a window: %lld device(s)\n", num(w, "waiting"));
	printf("  next window opens:    %s%s\n", *next && strcmp(next, "-") ? next : "-",
	       json_is_true(json_object_get(w, "open_now")) ? " (open now)" : "");
	if (json_is_true(json_object_get(w, "rollback_respects_windows")))
		printf("  rollbacks wait for a window\n");
	printf("  deferred by the device's update lock: %lld device(s)\n",
	       num(json_object_get(ro, "devices"), "deferred"));
}

static void print_rollout(json_t *ro)
{
	json_t *st = json_object_get(ro, "stage"), *stages, *s, *ev;
	char buf[256], left[32];
	size_t i;
	long long idx = num(st, "index");

	printf("Rollout:   #%lld %s %s -> %s\n", num(ro, "id"), str(ro, "model"),
	       str(ro, "baseline_version"), str(ro, "version"));
	printf("State:     %s\n", str(ro, "state"));
	printf("Policy:    %s\n", str(ro, "policy"));
	if (*str(ro, "selector") && strcmp(str(ro, "selector"), "-"))
		printf("Selector:  %s\n", str(ro, "selector"));
	stage_text(ro, buf, sizeof(buf));
	dur(iso_epoch(str(st, "window_ends_at")) - (long long)time(NULL), left, sizeof(left));
	printf("Stage:     %s%s%s\n", buf,
	       strcmp(str(ro, "state"), "progressing") == 0 ? ", window ends in " : "",
	       strcmp(str(ro, "state"), "progressing") == 0 ? left : "");
	bar(json_object_get(ro, "devices"), buf, sizeof(buf));
	printf("Devices:   %s\n", buf);
	printf("Created:   %s by %s\n", str(ro, "created_at"), str(ro, "created_by"));
	printf("\nStages:\n");
	stages = json_object_get(json_object_get(ro, "policy_spec"), "stages");
	json_array_foreach(stages, i, s) {
		const char *mark = (long long)i < idx ? "done" : (long long)i == idx ? "<- current" : "";
		dur(num(s, "validation_window"), left, sizeof(left));
		printf("  %zu. %-12s %5g%%  window %-5s %s\n", i + 1, str(s, "name"),
		       json_number_value(json_object_get(s, "size")) * 100, left, mark);
	}
	print_windows(ro);
	print_strata(ro);
	print_analysis(ro);
	printf("\nEvents:\n");
	json_array_foreach(json_object_get(ro, "events"), i, ev)
		printf("  %s  %-18s %s\n", str(ev, "at"), str(ev, "type"), str(ev, "detail"));
}

static int valid_id(const char *id)
{
	if (id == NULL || *id == '\0')
		return 0;
	for (const char *p = id; *p; p++)
		if (*p < '0' || *p > '9')
			return 0;
	return 1;
}

static int get_rollout(struct client *c, const char *id, struct resp *r)
{
	char path[128];

	snprintf(path, sizeof(path), "/v1/rollouts/%s", id);
	return client_json(c, "GET", path, NULL, r);
}

int cmd_rollout_get(struct client *c, const struct args *a)
{
	struct resp r;
	int rc;

	if (!valid_id(a->pos[0]))
		return usage_error("rollout get needs a rollout id (a number)");
	if ((rc = get_rollout(c, a->pos[0], &r)) != 0)
		return rc;
	if (c->json_out)
		print_json(r.json);
	else
		print_rollout(r.json);
	resp_free(&r);
	return 0;
}

/* --policy: a stored policy's name, or a YAML/JSON file sent inline. */
static int policy_value(const char *p, json_t **out)
{
	struct stat st;
	struct ramp_err err;
	size_t len;
	char *text;
	int rc;

	if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) {
		*out = json_string(p);
		return 0;
	}
	if ((text = read_file(p, &len)) == NULL) {
		fprintf(stderr, "rampctl: cannot read %s: %s\n", p, strerror(errno));
		return EXIT_LOCAL;
	}
	ramp_err_clear(&err);
	rc = yaml_json_load(text, len, out, &err);
	free(text);
	if (rc) {
		fprintf(stderr, "rampctl: %s: %s\n", p, err.msg[0] ? err.msg : "not YAML or JSON");
		return EXIT_LOCAL;
	}
	return 0;
}

int cmd_rollout_create(struct client *c, const struct args *a)
{
	const char *model = arg_get(a, "--model", NULL), *version = arg_get(a, "--version", NULL);
	const char *policy = arg_get(a, "--policy", NULL), *sel = arg_get(a, "--selector", "-l");
	json_t *body, *pv = NULL;
	struct resp r;
	int rc;

	if (model == NULL && a->npos > 0)
		model = a->pos[0];
	if (version == NULL && a->npos > 1)
		version = a->pos[1];
	if (model == NULL || version == NULL || policy == NULL)
		return usage_error("rollout create needs --model, --version and --policy");
	if ((rc = policy_value(policy, &pv)) != 0)
		return rc;
	body = json_pack("{s:s, s:s, s:o}", "model", model, "version", version, "policy", pv);
	if (sel)
		json_object_set_new(body, "selector", json_string(sel));
	rc = client_json(c, "POST", "/v1/rollouts", body, &r);
	json_decref(body);
	if (rc)
		return rc;
	if (c->json_out) {
		print_json(r.json);
	} else if (c->id_out) {
		printf("%lld\n", num(r.json, "id"));
	} else {
		char stage[160];
		stage_text(r.json, stage, sizeof(stage));
		printf("rollout #%lld created: %s %s -> %s, %s, stage %s\n", num(r.json, "id"),
		       model, str(r.json, "baseline_version"), version, str(r.json, "state"), stage);
	}
	resp_free(&r);
	return 0;
}

int cmd_rollout_verb(struct client *c, const char *verb, const struct args *a)
{
	char path[160];
	struct resp r;
	int rc;

	if (!valid_id(a->pos[0]))
		return usage_error("%s needs a rollout id (a number)", verb);
	snprintf(path, sizeof(path), "/v1/rollouts/%s/%s%s", a->pos[0], verb,
		 strcmp(verb, "promote") == 0 && arg_has(a, "--full") ? "?full=true" : "");
	if ((rc = client_json(c, "POST", path, NULL, &r)) != 0)
		return rc;
	if (c->json_out) {
		print_json(r.json);
	} else {
		char stage[160];
		stage_text(r.json, stage, sizeof(stage));
		printf("rollout #%s %s: state %s, stage %s\n", a->pos[0], verb, str(r.json, "state"),
		       stage);
	}
	resp_free(&r);
	return 0;
}

static void now_text(char *buf, size_t cap)
{
	time_t t = time(NULL);
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(buf, cap, "%H:%M:%S", &tm);
}

/* One line per change of state, stage or devices; new events; canary verdicts. */
static void watch_print(json_t *ro, char *last, size_t lastcap, size_t *nevents, char *lastan,
			size_t lancap)
{
	char line[512], stage[160], b[256], at[16], an[1024] = "";
	json_t *ev, *row;
	size_t i;

	now_text(at, sizeof(at));
	stage_text(ro, stage, sizeof(stage));
	bar(json_object_get(ro, "devices"), b, sizeof(b));
	snprintf(line, sizeof(line), "%-17s stage %s  %s", str(ro, "state"), stage, b);
	if (strcmp(line, last) != 0) {
		printf("%s  %s\n", at, line);
		snprintf(last, lastcap, "%s", line);
	}
	json_array_foreach(json_object_get(ro, "events"), i, ev) {
		if (i < *nevents)
			continue;
		printf("%s    event %s: %s\n", at, str(ev, "type"), str(ev, "detail"));
	}
	*nevents = json_array_size(json_object_get(ro, "events"));
	json_array_foreach(json_object_get(ro, "analysis"), i, row) {
		size_t n = strlen(an);
		if (strcmp(str(row, "arm"), "canary") || num(row, "stage") != num(json_object_get(ro, "stage"), "index"))
			continue;
		snprintf(an + n, sizeof(an) - n, "%s %s %s; ", str(row, "metric"), str(row, "threshold"),
			 str(row, "result"));
	}
	if (an[0] && strcmp(an, lastan) != 0) {
		json_array_foreach(json_object_get(ro, "analysis"), i, row) {
			char v[64];
			if (strcmp(str(row, "arm"), "canary") ||
			    num(row, "stage") != num(json_object_get(ro, "stage"), "index"))
				continue;
			metric_text(str(row, "metric"), json_object_get(row, "value"), v, sizeof(v));
			printf("%s    %-22s canary %-10s %-16s %s\n", at, str(row, "metric"), v,
			       str(row, "threshold"), str(row, "result"));
		}
		snprintf(lastan, lancap, "%s", an);
	}
	fflush(stdout);
}

int cmd_rollout_watch(struct client *c, const struct args *a)
{
	const char *iv = arg_get(a, "--interval", NULL), *to = arg_get(a, "--timeout", NULL);
	double interval = iv ? strtod(iv, NULL) : 2.0, timeout = to ? strtod(to, NULL) : 0;
	char last[512] = "", lastan[1024] = "";
	size_t nevents = 0;
	time_t start = time(NULL);
	int fails = 0;

	if (!valid_id(a->pos[0]))
		return usage_error("rollout watch needs a rollout id (a number)");
	if (interval < 0.1 || interval > 3600 || timeout < 0)
		return usage_error("--interval must be 0.1 to 3600 seconds and --timeout positive");
	for (;;) {
		struct resp r;
		int rc = get_rollout(c, a->pos[0], &r);
		const char *st;
		if (rc == EXIT_REFUSED)
			return rc;
		if (rc) {
			if (++fails >= 5)
				return rc;
		} else {
			fails = 0;
			if (!c->json_out)
				watch_print(r.json, last, sizeof(last), &nevents, lastan, sizeof(lastan));
			st = str(r.json, "state");
			if (!strcmp(st, "succeeded") || !strcmp(st, "rolled_back") || !strcmp(st, "aborted")) {
				if (c->json_out)
					print_json(r.json);
				rc = strcmp(st, "succeeded") == 0 ? EXIT_OK : EXIT_ROLLOUT_FAILED;
				resp_free(&r);
				return rc;
			}
			resp_free(&r);
		}
		if (timeout > 0 && difftime(time(NULL), start) >= timeout) {
			fprintf(stderr, "rampctl: rollout %s still running after %gs\n", a->pos[0], timeout);
			return EXIT_TIMEOUT;
		}
		{
			struct timespec ts = {(time_t)interval,
					      (long)((interval - (double)(time_t)interval) * 1e9)};
			nanosleep(&ts, NULL);
		}
	}
}
