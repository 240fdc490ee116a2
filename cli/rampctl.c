/*
 * rampctl.c - the operators' and CI's command line over ramp's HTTP API:
 * argument parsing, help, dispatch, and the commands for policies, devices,
 * cohorts, tokens and whoami (rollouts live in rollouts.c, keys and
 * manifests in publish.c).
 *
 * Commands read `rampctl NOUN VERB [ARGS] [--flags]`; nouns take singular or
 * plural forms and verbs a few aliases (ls/list, add/register, push/post),
 * so both `kubectl argo rollouts` habits and shorter ones work. Output is a
 * human table unless `-o json`; a server's problem+json becomes one line on
 * stderr; the exit codes are in client.h and docs/rampctl.md.
 */
#include "cmd.h"
#include "common/version.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
	"usage: rampctl [--server URL] [--token T] [-o table|json|id | --json] COMMAND\n"
	"       rampctl --version\n"
	"\n"
	"Rollouts:\n"
	"  rollouts list [--state active|all] [--model M]\n"
	"  rollout get ID\n"
	"  rollout create --model M --version V --policy NAME|FILE.yaml [--selector S]\n"
	"                 (-o id prints only the new rollout's id)\n"
	"  rollout pause|resume|approve|rollback|abort ID\n"
	"  rollout promote ID [--full]\n"
	"  rollout watch ID [--interval S] [--timeout S]\n"
	"Policies, fleet, artifacts:\n"
	"  policy apply NAME -f FILE.yaml      policy get NAME      policies list\n"
	"  devices list [--selector S] [--stuck]  device get ID\n"
	"  device register --id ID --platform P [--label k=v ...]  (prints the device token)\n"
	"  cohort apply NAME --selector S      cohorts list\n"
	"  key add ID -f PUBLIC.pem\n"
	"  manifest post --file M.yaml (--signature SIG.b64 | --key PRIVATE.pem) [--key-id ID]\n"
	"                [--artifacts DIR]\n"
	"  manifest sign M.yaml --key PRIVATE.pem [--key-id ID]  (writes M.yaml.sig, offline)\n"
	"  token create NAME --role ROLE       whoami\n"
	"TUF (docs/tuf.md; --dir D holds the offline keys, default ./tuf):\n"
	"  tuf init [--root-keys N --threshold T]   tuf rotate-root [--root-keys N\n"
	"           --threshold T] [--rotate-online]  tuf delegate ROLE --key CI.pub.json\n"
	"           --paths PATTERN   tuf keygen --out CI.pem\n"
	"  tuf sign-manifest ROLE -f M.yaml --key CI.pem [--artifacts DIR]\n"
	"GitOps:\n"
	"  gitops status                       gitops sync [--retry]\n"
	"MQTT broker credentials (docs/mqtt.md):\n"
	"  mqtt passwd --secret FILE [-f PASSWD] [--rampd USERPASS_FILE] [--iterations N]\n"
	"  mqtt password ID --secret FILE      (one device's broker password)\n"
	"\n"
	"The server and token come from --server/--token, else RAMP_SERVER (or RAMP_URL)\n"
	"and RAMP_TOKEN, else ~/.config/ramp/config (\"server = URL\", \"token = T\"), else\n"
	"for a server on this machine the admin token of a local rampd, ./var/admin.token\n"
	"(make run writes it; $RAMP_DATA_DIR/admin.token when that is set).\n"
	"\n"
	"Exit codes: 0 done; 1 the watched rollout ended rolled_back or aborted;\n"
	"2 usage error; 3 the server refused the request (4xx, its detail is printed);\n"
	"4 server unreachable or failing (5xx); 5 a local file or key could not be used;\n"
	"6 watch --timeout passed before the rollout ended.\n";

static const char *const bool_flags[] = {"--full", "--stuck", "--help", "-h", "--json",
					   "--rotate-online", "--retry", NULL};

int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("rampctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see rampctl --help)\n", stderr);
	return EXIT_USAGE;
}

const char *arg_get(const struct args *a, const char *flag, const char *alias)
{
	const char *v = NULL;

	for (int i = 0; i < a->nflags; i++)
		if (strcmp(a->flag[i], flag) == 0 || (alias && strcmp(a->flag[i], alias) == 0))
			v = a->val[i];
	return v;
}

bool arg_has(const struct args *a, const char *flag)
{
	for (int i = 0; i < a->nflags; i++)
		if (strcmp(a->flag[i], flag) == 0)
			return true;
	return false;
}

static bool is_bool(const char *f)
{
	for (int i = 0; bool_flags[i]; i++)
		if (strcmp(f, bool_flags[i]) == 0)
			return true;
	return false;
}

/* Splits argv into positionals and flags ("--k v", "--k=v", booleans). */
static int parse_args(int argc, char **argv, struct args *a)
{
	memset(a, 0, sizeof(*a));
	for (int i = 1; i < argc; i++) {
		char *s = argv[i], *eq;
		if (s[0] != '-' || s[1] == '\0') {
			if (a->npos == ARGS_MAX)
				return usage_error("too many arguments");
			a->pos[a->npos++] = s;
			continue;
		}
		if (a->nflags == ARGS_MAX)
			return usage_error("too many flags");
		if (strncmp(s, "--", 2) == 0 && (eq = strchr(s, '=')) != NULL) {
			*eq = '\0';
			a->flag[a->nflags] = s;
			a->val[a->nflags++] = eq + 1;
		} else if (is_bool(s)) {
			a->flag[a->nflags] = s;
			a->val[a->nflags++] = NULL;
		} else {
			if (i + 1 >= argc)
				return usage_error("%s needs a value", s);
			a->flag[a->nflags] = s;
			a->val[a->nflags++] = argv[++i];
		}
	}
	return 0;
}

/* ---------- output ---------- */

void print_json(json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);

	if (s)
		printf("%s\n", s);
	free(s);
}

const char *scalar(json_t *v, char *buf, size_t cap)
{
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v))
		snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, cap, "%g", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, cap, "%s", json_is_true(v) ? "true" : "false");
	else
		snprintf(buf, cap, "-");
	return buf;
}

void table_init(struct table *t, int ncols, ...)
{
	va_list ap;

	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	va_start(ap, ncols);
	t->cells = calloc((size_t)ncols, sizeof(char *));
	t->cap = 1;
	for (int i = 0; i < ncols; i++) {
		const char *s = va_arg(ap, const char *);
		if (t->cells)
			t->cells[i] = strdup(s);
	}
	va_end(ap);
	t->nrows = 1;
}

void table_init_list(struct table *t, int ncols, const char *const *heads)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	t->cap = 1;
	t->nrows = 1;
	if ((t->cells = calloc((size_t)ncols, sizeof(char *))) == NULL)
		return;
	for (int i = 0; i < ncols; i++)
		t->cells[i] = strdup(heads[i]);
}

void table_row(struct table *t, ...)
{
	va_list ap;

	if (t->cells == NULL)
		return;
	if (t->nrows == t->cap) {
		char **nc = realloc(t->cells, (size_t)t->cap * 2 * (size_t)t->ncols * sizeof(char *));
		if (nc == NULL)
			return;
		t->cells = nc;
		t->cap *= 2;
	}
	va_start(ap, t);
	for (int i = 0; i < t->ncols; i++) {
		const char *s = va_arg(ap, const char *);
		t->cells[t->nrows * t->ncols + i] = strdup(s && *s ? s : "-");
	}
	va_end(ap);
	t->nrows++;
}

void table_print(struct table *t)
{
	int w[32] = {0};

	for (int r = 0; r < t->nrows && t->cells; r++)
		for (int i = 0; i < t->ncols && i < 32; i++) {
			const char *s = t->cells[r * t->ncols + i];
			int n = s ? (int)strlen(s) : 0;
			if (n > w[i])
				w[i] = n;
		}
	for (int r = 0; r < t->nrows && t->cells; r++) {
		for (int i = 0; i < t->ncols; i++) {
			const char *s = t->cells[r * t->ncols + i];
			if (i + 1 < t->ncols)
				printf("%-*s  ", i < 32 ? w[i] : 0, s ? s : "");
			else
				printf("%s\n", s ? s : "");
			free(t->cells[r * t->ncols + i]);
		}
	}
	free(t->cells);
	t->cells = NULL;
}

int cmd_done(struct client *c, struct resp *r, const char *msg)
{
	if (c->json_out)
		print_json(r->json);
	else if (msg)
		printf("%s\n", msg);
	resp_free(r);
	return 0;
}

/* ---------- policies, cohorts, keys, tokens ---------- */

static bool looks_json(const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	return *s == '{';
}

static int cmd_policy_apply(struct client *c, const struct args *a)
{
	const char *file = arg_get(a, "-f", "--file"), *name = a->pos[0];
	char path[512], base[128], msg[300];
	struct resp r;
	size_t len;
	char *text;
	int rc;

	if (file == NULL && name != NULL) { /* `policies apply FILE`: named after the file */
		const char *b = strrchr(name, '/'), *dot;
		file = name;
		b = b ? b + 1 : name;
		dot = strrchr(b, '.');
		snprintf(base, sizeof(base), "%.*s", dot ? (int)(dot - b) : (int)strlen(b), b);
		name = base;
	}
	if (name == NULL || file == NULL)
		return usage_error("policy apply needs a NAME and -f FILE");
	if ((text = read_file(file, &len)) == NULL) {
		fprintf(stderr, "rampctl: cannot read %s: %s\n", file, strerror(errno));
		return EXIT_LOCAL;
	}
	snprintf(path, sizeof(path), "/v1/policies/%s", name);
	rc = client_call(c, "PUT", path, looks_json(text) ? "application/json" : "application/yaml",
			 text, len, &r);
	free(text);
	if (rc)
		return rc;
	if (r.status != 200 && r.status != 201) {
		rc = client_problem(c, &r);
		resp_free(&r);
		return rc;
	}
	snprintf(msg, sizeof(msg), "policy %s %s", name, r.status == 201 ? "created" : "updated");
	return cmd_done(c, &r, msg);
}

static int cmd_get(struct client *c, const char *what, const char *id)
{
	char path[512], *e;
	struct resp r;
	int rc;

	if (id == NULL)
		return usage_error("get needs a name");
	if ((e = url_escape(c, id)) == NULL)
		return EXIT_LOCAL;
	snprintf(path, sizeof(path), "/v1/%s/%s", what, e);
	free(e);
	if ((rc = client_json(c, "GET", path, NULL, &r)) != 0)
		return rc;
	print_json(r.json);
	resp_free(&r);
	return 0;
}

/* Labels as "k=v,k=v"; models as "model=version(state)", or
 * "model=version(state,stuck)" for a stuck one (docs/api.md). */
static const char *object_text(json_t *o, char *buf, size_t cap)
{
	const char *k;
	json_t *v;
	size_t n = 0;

	buf[0] = '\0';
	json_object_foreach(o, k, v) {
		char tmp[64];
		int w;
		if (json_is_object(v))
			w = snprintf(buf + n, cap - n, "%s%s=%s(%s%s)", n ? "," : "", k,
				     json_string_value(json_object_get(v, "version")),
				     json_string_value(json_object_get(v, "state")),
				     json_is_true(json_object_get(v, "stuck")) ? ",stuck" : "");
		else
			w = snprintf(buf + n, cap - n, "%s%s=%s", n ? "," : "", k,
				     scalar(v, tmp, sizeof(tmp)));
		if (w < 0 || (size_t)w >= cap - n)
			break;
		n += (size_t)w;
	}
	return buf;
}

/* Lists every page of path (a collection) into a table of ncols (at most 5) columns. */
static int cmd_list(struct client *c, const char *path, int ncols, const char *const *keys,
		    const char *const *heads)
{
	json_t *all = json_array(), *it, *v;
	char *next = NULL, url[2048];
	struct table t;
	size_t i;
	int rc = 0;

	do {
		struct resp r;
		snprintf(url, sizeof(url), "%s%slimit=1000%s%s", path, strchr(path, '?') ? "&" : "?",
			 next ? "&after=" : "", next ? next : "");
		free(next);
		next = NULL;
		if ((rc = client_json(c, "GET", url, NULL, &r)) != 0)
			break;
		json_array_extend(all, json_object_get(r.json, "items"));
		if (json_is_string(json_object_get(r.json, "next")))
			next = strdup(json_string_value(json_object_get(r.json, "next")));
		resp_free(&r);
	} while (next);
	if (rc == 0 && c->json_out)
		print_json(all);
	else if (rc == 0) {
		table_init_list(&t, ncols, heads);
		json_array_foreach(all, i, it) {
			char b[5][512];
			const char *cell[5] = {"", "", "", "", ""};
			for (int k = 0; k < ncols; k++) {
				v = json_object_get(it, keys[k]);
				if (json_is_object(v))
					cell[k] = object_text(v, b[k], sizeof(b[k]));
				else
					cell[k] = scalar(v, b[k], sizeof(b[k]));
			}
			table_row(&t, cell[0], cell[1], cell[2], cell[3], cell[4]);
		}
		table_print(&t);
	}
	json_decref(all);
	return rc;
}

static int cmd_devices_list(struct client *c, const struct args *a)
{
	static const char *const keys[] = {"id", "platform", "models", "labels", "last_seen"};
	static const char *const heads[] = {"ID", "PLATFORM", "MODELS", "LABELS", "LAST SEEN"};
	const char *sel = arg_get(a, "--selector", "-l");
	char path[1200], *e = sel ? url_escape(c, sel) : NULL;
	bool stuck = arg_has(a, "--stuck");
	int rc;

	snprintf(path, sizeof(path), "/v1/devices%s%s%s", stuck ? "?stuck=true" : "",
		 e ? (stuck ? "&selector=" : "?selector=") : "", e ? e : "");
	free(e);
	rc = cmd_list(c, path, 5, keys, heads);
	return rc;
}

static int cmd_device_register(struct client *c, const struct args *a)
{
	const char *id = arg_get(a, "--id", NULL), *platform = arg_get(a, "--platform", NULL);
	json_t *labels = json_object(), *body;
	struct resp r;
	int rc;

	if (id == NULL && a->npos > 0)
		id = a->pos[0];
	if (id == NULL || platform == NULL) {
		json_decref(labels);
		return usage_error("device register needs --id and --platform");
	}
	for (int i = 0; i < a->nflags; i++) {
		const char *eq;
		if (strcmp(a->flag[i], "--label"))
			continue;
		if ((eq = strchr(a->val[i], '=')) == NULL || eq == a->val[i]) {
			json_decref(labels);
			return usage_error("--label takes key=value, not \"%s\"", a->val[i]);
		}
		json_object_setn_new_nocheck(labels, a->val[i], (size_t)(eq - a->val[i]),
					     json_string(eq + 1));
	}
	body = json_pack("{s:s, s:s, s:o}", "id", id, "platform", platform, "labels", labels);
	rc = client_json(c, "POST", "/v1/devices", body, &r);
	json_decref(body);
	if (rc)
		return rc;
	/* the token alone on stdout (shown once), so DT=$(rampctl device register ...) works */
	if (!c->json_out)
		printf("%s\n", json_string_value(json_object_get(r.json, "token")));
	return cmd_done(c, &r, NULL);
}

static int cmd_cohort_apply(struct client *c, const struct args *a)
{
	const char *sel = arg_get(a, "--selector", "-l");
	char path[256], msg[300];
	json_t *body;
	struct resp r;
	int rc;

	if (a->pos[0] == NULL || sel == NULL)
		return usage_error("cohort apply needs NAME and --selector");
	snprintf(path, sizeof(path), "/v1/cohorts/%s", a->pos[0]);
	body = json_pack("{s:s}", "selector", sel);
	rc = client_json(c, "PUT", path, body, &r);
	json_decref(body);
	if (rc)
		return rc;
	snprintf(msg, sizeof(msg), "cohort %s: %s", a->pos[0], sel);
	return cmd_done(c, &r, msg);
}

static int cmd_token_create(struct client *c, const struct args *a)
{
	const char *role = arg_get(a, "--role", NULL);
	json_t *body;
	struct resp r;
	int rc;

	if (a->pos[0] == NULL || role == NULL)
		return usage_error("token create needs NAME and --role");
	body = json_pack("{s:s, s:s}", "name", a->pos[0], "role", role);
	rc = client_json(c, "POST", "/v1/tokens", body, &r);
	json_decref(body);
	if (rc)
		return rc;
	if (!c->json_out) /* the token alone on stdout, so scripts can capture it */
		printf("%s\n", json_string_value(json_object_get(r.json, "token")));
	return cmd_done(c, &r, NULL);
}

/* ---------- dispatch ---------- */

/* Every noun (with its aliases) and its verbs, for suggestions; run() is
 * what dispatches them. */
static const struct {
	const char *nouns, *verbs;
} commands[] = {
	{"rollout rollouts ro",
	 "list ls get status create start watch pause resume approve promote rollback abort"},
	{"policy policies", "apply get list ls"},
	{"device devices", "list ls register add create get"},
	{"cohort cohorts", "apply list ls"},
	{"key keys", "add apply"},
	{"manifest manifests", "post push sign"},
	{"gitops", "status sync"},
	{"token tokens", "create"},
	{"tuf", "init delegate rotate-root keygen sign-manifest"},
	{"mqtt", "passwd password"},
	{"whoami", ""},
	{"help", ""},
};

/* Levenshtein distance with adjacent transpositions, capped at 9. */
static int edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	int d[33][33];

	if (la > 32 || lb > 32)
		return 9;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (int)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (int)j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			int cost = a[i - 1] != b[j - 1], v = d[i - 1][j - 1] + cost;
			if (d[i - 1][j] + 1 < v)
				v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	return d[la][lb] > 9 ? 9 : d[la][lb];
}

/* The word of the space-separated list nearest to w (at most 2 edits, and
 * fewer than w has letters) into out; false when none is near. */
static bool nearest(const char *w, const char *list, char *out, size_t cap)
{
	int best = 3;
	const char *p = list;

	while (*p) {
		size_t n = strcspn(p, " ");
		char word[33];
		int dist;
		snprintf(word, sizeof(word), "%.*s", (int)n, p);
		dist = edit_distance(w, word);
		if (dist < best && dist < (int)strlen(w)) {
			best = dist;
			snprintf(out, cap, "%s", word);
		}
		p += n + (p[n] == ' ');
	}
	return best < 3;
}

/* True when w is one of the space-separated words of list. */
static bool in_list(const char *w, const char *list)
{
	size_t n = strlen(w);

	for (const char *p = list; *p; p += strcspn(p, " "), p += *p == ' ')
		if (strncmp(p, w, n) == 0 && (p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

/* The usage error for a command run() does not know, with the nearest one. */
static int unknown_command(const char *noun, const char *verb)
{
	char nouns[256] = "", guess[40];

	if (noun == NULL)
		return usage_error("no command");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const char *vs = commands[i].verbs;
		if (!in_list(noun, commands[i].nouns)) {
			if (strlen(nouns) + strlen(commands[i].nouns) + 2 < sizeof(nouns))
				strcat(strcat(nouns, nouns[0] ? " " : ""), commands[i].nouns);
			continue;
		}
		if (verb == NULL)
			return usage_error("%s needs one of: %s", noun, vs);
		if (nearest(verb, vs, guess, sizeof(guess)))
			return usage_error("unknown command '%s %s'; did you mean '%s %s'?", noun, verb,
					   noun, guess);
		return usage_error("unknown command '%s %s'; %s takes %s", noun, verb, noun, vs);
	}
	if (nearest(noun, nouns, guess, sizeof(guess)))
		return usage_error("unknown command '%s'; did you mean '%s%s%s'?", noun, guess,
				   verb ? " " : "", verb ? verb : "");
	return usage_error("unknown command '%s'", noun);
}

static bool is(const char *s, const char *a, const char *b, const char *c3)
{
	return s && ((a && strcmp(s, a) == 0) || (b && strcmp(s, b) == 0) ||
		     (c3 && strcmp(s, c3) == 0));
}

/* Drops the noun and verb so a->pos[0] is the command's first argument. */
static void shift(struct args *a, int n)
{
	a->npos -= n;
	memmove(a->pos, a->pos + n, (size_t)a->npos * sizeof(a->pos[0]));
	a->pos[a->npos] = NULL;
}

static int rollout_cmd(struct client *c, const char *noun, const char *verb, struct args *a)
{
	if (is(verb, "list", "ls", NULL))
		return cmd_rollouts_list(c, a);
	if (is(verb, "get", "status", NULL))
		return cmd_rollout_get(c, a);
	if (is(verb, "create", "start", NULL))
		return cmd_rollout_create(c, a);
	if (is(verb, "watch", NULL, NULL))
		return cmd_rollout_watch(c, a);
	if (is(verb, "pause", "resume", "approve") || is(verb, "promote", "rollback", "abort"))
		return cmd_rollout_verb(c, verb, a);
	return unknown_command(noun, verb);
}

static int run(struct client *c, struct args *a)
{
	const char *noun = a->pos[0], *verb = a->pos[1];

	if (is(noun, "whoami", NULL, NULL)) {
		struct resp r;
		int rc = client_json(c, "GET", "/v1/whoami", NULL, &r);
		if (rc == 0 && !c->json_out)
			printf("%s (%s)\n", json_string_value(json_object_get(r.json, "name")),
			       json_string_value(json_object_get(r.json, "role")));
		return rc ? rc : cmd_done(c, &r, NULL);
	}
	shift(a, a->npos >= 2 ? 2 : a->npos);
	if (is(noun, "rollout", "rollouts", "ro"))
		return rollout_cmd(c, noun, verb, a);
	if (is(noun, "policy", "policies", NULL)) {
		static const char *const k[] = {"name", "created_at", "updated_at"};
		static const char *const hd[] = {"NAME", "CREATED", "UPDATED"};
		if (is(verb, "apply", NULL, NULL))
			return cmd_policy_apply(c, a);
		if (is(verb, "get", NULL, NULL))
			return cmd_get(c, "policies", a->pos[0]);
		if (is(verb, "list", "ls", NULL))
			return cmd_list(c, "/v1/policies", 3, k, hd);
	}
	if (is(noun, "device", "devices", NULL)) {
		if (is(verb, "list", "ls", NULL))
			return cmd_devices_list(c, a);
		if (is(verb, "register", "add", "create"))
			return cmd_device_register(c, a);
		if (is(verb, "get", NULL, NULL))
			return cmd_get(c, "devices", a->pos[0]);
	}
	if (is(noun, "cohort", "cohorts", NULL)) {
		static const char *const k[] = {"name", "selector", "updated_at"};
		static const char *const hd[] = {"NAME", "SELECTOR", "UPDATED"};
		if (is(verb, "apply", NULL, NULL))
			return cmd_cohort_apply(c, a);
		if (is(verb, "list", "ls", NULL))
			return cmd_list(c, "/v1/cohorts", 3, k, hd);
	}
	if (is(noun, "key", "keys", NULL) && is(verb, "add", "apply", NULL))
		return cmd_key_add(c, a);
	if (is(noun, "manifest", "manifests", NULL) && is(verb, "post", "push", NULL))
		return cmd_manifest_post(c, a);
	if (is(noun, "token", "tokens", NULL) && is(verb, "create", NULL, NULL))
		return cmd_token_create(c, a);
	if (is(noun, "tuf", NULL, NULL))
		return cmd_tuf(c, verb, a);
	if (is(noun, "gitops", NULL, NULL) && is(verb, "status", "sync", NULL))
		return strcmp(verb, "sync") ? cmd_gitops_status(c, a) : cmd_gitops_sync(c, a);
	if (is(noun, "mqtt", NULL, NULL) && is(verb, "passwd", NULL, NULL))
		return cmd_mqtt_passwd(c, a);
	if (is(noun, "mqtt", NULL, NULL) && is(verb, "password", NULL, NULL))
		return cmd_mqtt_password(c, a);
	return unknown_command(noun, verb);
}

int main(int argc, char **argv)
{
	struct client c;
	struct args a;
	const char *out;
	int rc;

	if (argc == 2 && strcmp(argv[1], "--version") == 0)
		return version_print("rampctl");
	if ((rc = parse_args(argc, argv, &a)) != 0)
		return rc;
	if (arg_has(&a, "--help") || arg_has(&a, "-h") || a.npos == 0 ||
	    (a.npos == 1 && strcmp(a.pos[0], "help") == 0)) {
		fputs(usage, a.npos == 0 && !arg_has(&a, "--help") && !arg_has(&a, "-h") ? stderr : stdout);
		return a.npos == 0 && !arg_has(&a, "--help") && !arg_has(&a, "-h") ? EXIT_USAGE : 0;
	}
	if (a.npos >= 2 && is(a.pos[0], "manifest", "manifests", NULL) &&
	    strcmp(a.pos[1], "sign") == 0) {
		shift(&a, 2);
		return cmd_manifest_sign(&a);
	}
	out = arg_get(&a, "-o", "--output");
	if (out && strcmp(out, "json") && strcmp(out, "table") && strcmp(out, "id"))
		return usage_error("-o takes json, table or id");
	if ((rc = client_init(&c, arg_get(&a, "--server", NULL), arg_get(&a, "--token", NULL))) != 0)
		return rc;
	c.json_out = (out && strcmp(out, "json") == 0) || arg_has(&a, "--json");
	c.id_out = out && strcmp(out, "id") == 0;
	rc = run(&c, &a);
	client_close(&c);
	return rc;
}
