/*
 * infer.c - the inference-figures socket (infer.h): a line parser, and a
 * listener thread that feeds per-model accumulators the telemetry thread
 * takes every interval.
 *
 * Threads: the listener thread alone owns the listening socket and the
 * clients (their partial lines included).  The model table is shared with
 * infer_take() under `lock`; a take detaches the whole table, so the
 * accumulators it turns into reports are no longer reachable by the
 * listener and the label callback runs without the lock.  Starting each
 * interval with an empty table also means models that stopped writing
 * (or junk names) never fill the INFER_MODELS_MAX slots for good.
 */
#include "infer.h"

#include "stats.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define INFER_COUNT_MAX 9007199254740992.0 /* 2^53, the controller's largest integer */
#define INFER_TOKENS_MAX 9

enum { F_NPU, F_LOAD, F_EXC, F_OOM, F_TIMEOUT, F_N };

/* clang-format off */
static const struct {
	const char *name;
	int whole; /* a count: whole numbers, summed */
	double hi;
} infer_fields[F_N] = {
	[F_NPU] = {"npu_pct", 0, 100},
	[F_LOAD] = {"model_load_ms", 0, INFINITY},
	[F_EXC] = {"exceptions", 1, INFER_COUNT_MAX},
	[F_OOM] = {"oom_kills", 1, INFER_COUNT_MAX},
	[F_TIMEOUT] = {"timeouts", 1, INFER_COUNT_MAX},
};
/* clang-format on */

/* ---- the line parser (pure) ---- */

/* A plain decimal number (no hex, inf or nan), finite; -1 when tok is not one. */
static int parse_number(const char *tok, double *out)
{
	char *end;

	if (tok[0] == '\0' || tok[strspn(tok, "0123456789.eE+-")] != '\0')
		return -1;
	*out = strtod(tok, &end); /* overflow is HUGE_VAL, refused below; underflow is fine */
	return *end == '\0' && isfinite(*out) ? 0 : -1;
}

static int valid_model(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return 0;
	return s[strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789._-")] == '\0';
}

static int parse_request(char **tok, size_t nt, struct infer_line *out, struct ramp_err *err)
{
	if (nt < 3)
		return ramp_err_set(err, RAMP_EINVAL, "line",
				    "must be \"<model> <latency_ms> ok|error [<confidence>]\" or "
				    "\"<model> <field>=<number> ...\"");
	if (nt > 4)
		return ramp_err_set(err, RAMP_EINVAL, "line", "has tokens after the confidence");
	if (parse_number(tok[1], &out->latency_ms) != 0 || out->latency_ms < 0)
		return ramp_err_set(err, RAMP_EINVAL, "latency_ms",
				    "must be a finite number greater than or equal to 0");
	if (strcmp(tok[2], "ok") == 0)
		out->error = 0;
	else if (strcmp(tok[2], "error") == 0)
		out->error = 1;
	else
		return ramp_err_set(err, RAMP_EINVAL, "outcome", "must be ok or error");
	if (nt == 4 && (parse_number(tok[3], &out->confidence) != 0 || out->confidence < 0 ||
			out->confidence > 1))
		return ramp_err_set(err, RAMP_EINVAL, "confidence",
				    "must be a number between 0 and 1");
	out->kind = INFER_REQUEST;
	return 0;
}

/* One "<field>=<number>" token into out's next slot. */
static int parse_field(char *tok, struct infer_line *out, struct ramp_err *err)
{
	char *eq = strchr(tok, '=');
	int f = 0;
	double v;

	if (eq == NULL)
		return ramp_err_set(err, RAMP_EINVAL, "line",
				    "expected <field>=<number>, not \"%.32s\"", tok);
	*eq = '\0';
	if (tok[0] == '\0')
		return ramp_err_set(err, RAMP_EINVAL, "line", "has a value with no field name");
	while (f < F_N && strcmp(infer_fields[f].name, tok) != 0)
		f++;
	if (f == F_N)
		return ramp_err_set(err, RAMP_EINVAL, tok,
				    "is not a known field (npu_pct, model_load_ms, exceptions, "
				    "oom_kills, timeouts)");
	for (size_t i = 0; i < out->nfields; i++)
		if (strcmp(out->field[i], tok) == 0)
			return ramp_err_set(err, RAMP_EINVAL, tok, "appears more than once");
	if (parse_number(eq + 1, &v) != 0 || v < 0)
		return ramp_err_set(err, RAMP_EINVAL, tok,
				    "must be a finite number greater than or equal to 0");
	if (v > infer_fields[f].hi)
		return ramp_err_set(err, RAMP_EINVAL, tok, "must be at most %.17g",
				    infer_fields[f].hi);
	if (infer_fields[f].whole && v != trunc(v))
		return ramp_err_set(err, RAMP_EINVAL, tok, "must be a whole number");
	snprintf(out->field[out->nfields], sizeof(out->field[0]), "%s", tok);
	out->value[out->nfields++] = v;
	return 0;
}

/* Splits buf at spaces and tabs; -1 when there are more than max tokens. */
static int split(char *buf, char **tok, size_t max, size_t *nt)
{
	char *save = NULL;

	*nt = 0;
	for (char *t = strtok_r(buf, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (*nt == max)
			return -1;
		tok[(*nt)++] = t;
	}
	return 0;
}

int infer_parse_line(const char *line, size_t n, struct infer_line *out, struct ramp_err *err)
{
	char buf[INFER_LINE_MAX + 1];
	char *tok[INFER_TOKENS_MAX];
	size_t nt;

	memset(out, 0, sizeof(*out));
	out->confidence = NAN;
	if (n > 0 && line[n - 1] == '\r')
		n--;
	if (n > INFER_LINE_MAX)
		return ramp_err_set(err, RAMP_EINVAL, "line", "is longer than %d bytes",
				    INFER_LINE_MAX);
	if (memchr(line, '\0', n) != NULL || memchr(line, '\n', n) != NULL)
		return ramp_err_set(err, RAMP_EINVAL, "line", "contains a NUL byte or a newline");
	memcpy(buf, line, n);
	buf[n] = '\0';
	if (split(buf, tok, INFER_TOKENS_MAX, &nt) != 0)
		return ramp_err_set(err, RAMP_EINVAL, "line", "has more than %d tokens",
				    INFER_TOKENS_MAX);
	if (nt == 0)
		return ramp_err_set(err, RAMP_EINVAL, "line", "is empty");
	if (!valid_model(tok[0]))
		return ramp_err_set(err, RAMP_EINVAL, "model",
				    "must match [a-z0-9][a-z0-9._-]{0,62}");
	snprintf(out->model, sizeof(out->model), "%s", tok[0]);
	if (nt < 2 || strchr(tok[1], '=') == NULL)
		return parse_request(tok, nt, out, err);
	for (size_t i = 1; i < nt; i++)
		if (parse_field(tok[i], out, err) != 0)
			return RAMP_EINVAL;
	out->kind = INFER_FIELDS;
	return 0;
}

/* ---- the accumulators ---- */

/* What one model's lines added up to since the last take. */
struct infer_model {
	char name[64];
	unsigned long lines;
	int has_requests;
	struct stats st;
	double npu_sum, load_ms;
	unsigned long npu_n;
	int has_load;
	int has_count[F_N];
	double count[F_N]; /* whole numbers, capped at INFER_COUNT_MAX, so exact */
};

struct infer_client {
	int fd;
	int skipping; /* inside an oversized line, dropping up to its newline */
	size_t len;
	char buf[INFER_LINE_MAX + 1];
};

struct infer {
	char *path;
	int lfd, wake[2];
	dev_t dev;
	ino_t ino;
	pthread_t thread;
	atomic_ulong dropped;
	pthread_mutex_t lock;
	struct infer_model *models[INFER_MODELS_MAX]; /* guarded by lock */
	size_t nmodels;
	struct infer_client *clients[INFER_CLIENTS_MAX]; /* listener thread only */
	size_t nclients;
	void (*lock_fn)(void *ctx, int locked, const char *reason); /* guarded by lock */
	void *lock_ctx;
};

void infer_on_lock(struct infer *in, void (*fn)(void *ctx, int locked, const char *reason),
		   void *ctx)
{
	pthread_mutex_lock(&in->lock);
	in->lock_fn = fn;
	in->lock_ctx = ctx;
	pthread_mutex_unlock(&in->lock);
}

/* "!lock [reason]" or "!unlock": 1 when line was one (handled), else 0. */
static int consent_line(struct infer *in, const char *line, size_t n)
{
	char reason[200] = "";
	void (*fn)(void *, int, const char *);
	void *ctx;
	int locked;

	if (n >= 5 && memcmp(line, "!lock", 5) == 0 && (n == 5 || line[5] == ' ')) {
		size_t k = n > 6 ? n - 6 : 0;
		if (k >= sizeof(reason))
			k = sizeof(reason) - 1;
		if (k)
			memcpy(reason, line + 6, k);
		reason[k] = '\0';
		reason[strcspn(reason, "\r")] = '\0';
		locked = 1;
	} else if (n >= 7 && memcmp(line, "!unlock", 7) == 0 && (n == 7 || line[7] == '\r')) {
		locked = 0;
	} else {
		return 0;
	}
	pthread_mutex_lock(&in->lock);
	fn = in->lock_fn;
	ctx = in->lock_ctx;
	pthread_mutex_unlock(&in->lock);
	if (fn)
		fn(ctx, locked, reason);
	return 1;
}

/* The table's entry for name, added when missing; NULL when full or out of memory.  Lock held. */
static struct infer_model *model_get(struct infer *in, const char *name)
{
	struct infer_model *m;

	for (size_t i = 0; i < in->nmodels; i++)
		if (strcmp(in->models[i]->name, name) == 0)
			return in->models[i];
	if (in->nmodels == INFER_MODELS_MAX || (m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	snprintf(m->name, sizeof(m->name), "%s", name);
	stats_init(&m->st);
	in->models[in->nmodels++] = m;
	return m;
}

static void model_add_fields(struct infer_model *m, const struct infer_line *l)
{
	for (size_t i = 0; i < l->nfields; i++) {
		int f = 0;

		while (f < F_N && strcmp(infer_fields[f].name, l->field[i]) != 0)
			f++;
		if (f == F_NPU) {
			m->npu_sum += l->value[i];
			m->npu_n++;
		} else if (f == F_LOAD) {
			m->load_ms = l->value[i];
			m->has_load = 1;
		} else if (f < F_N) {
			m->count[f] = fmin(m->count[f] + l->value[i], INFER_COUNT_MAX);
			m->has_count[f] = 1;
		}
	}
}

/* Parses and counts one complete line from a client. */
static void handle_line(struct infer *in, const char *line, size_t n)
{
	struct infer_line l;
	struct infer_model *m;

	if (consent_line(in, line, n))
		return;
	if (infer_parse_line(line, n, &l, NULL) != 0) {
		atomic_fetch_add(&in->dropped, 1);
		return;
	}
	pthread_mutex_lock(&in->lock);
	m = model_get(in, l.model);
	if (m != NULL) {
		m->lines++;
		if (l.kind == INFER_REQUEST) {
			stats_observe(&m->st, l.latency_ms, l.error, l.confidence);
			m->has_requests = 1;
		} else {
			model_add_fields(m, &l);
		}
	}
	pthread_mutex_unlock(&in->lock);
	if (m == NULL)
		atomic_fetch_add(&in->dropped, 1);
}

/* ---- the listener thread ---- */

/* Splits what a client sent into lines; oversized ones are skipped up to their newline. */
static void client_feed(struct infer *in, struct infer_client *c, const char *p, size_t n)
{
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t seg = nl ? (size_t)(nl - p) : n;

		if (!c->skipping && c->len + seg > INFER_LINE_MAX) {
			atomic_fetch_add(&in->dropped, 1);
			c->skipping = 1;
			c->len = 0;
		} else if (!c->skipping) {
			memcpy(c->buf + c->len, p, seg);
			c->len += seg;
		}
		if (nl == NULL)
			return;
		if (!c->skipping)
			handle_line(in, c->buf, c->len);
		c->skipping = 0;
		c->len = 0;
		p = nl + 1;
		n -= seg + 1;
	}
}

/* Reads what client c sent; -1 once it is gone (an unterminated last line is dropped). */
static int client_read(struct infer *in, struct infer_client *c)
{
	char chunk[4096];
	ssize_t r = read(c->fd, chunk, sizeof(chunk));

	if (r < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (r > 0) {
		client_feed(in, c, chunk, (size_t)r);
		return 0;
	}
	if (c->len > 0 && !c->skipping)
		atomic_fetch_add(&in->dropped, 1);
	return -1;
}

static void client_remove(struct infer *in, size_t i)
{
	close(in->clients[i]->fd);
	free(in->clients[i]);
	in->clients[i] = in->clients[--in->nclients];
}

static int out_of_descriptors(int e)
{
	return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
}

/* Accepts one connection; -1 when out of descriptors (the caller backs off). */
static int accept_one(struct infer *in)
{
	int fd = accept4(in->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct infer_client *c;

	if (fd < 0)
		return out_of_descriptors(errno) ? -1 : 0;
	if (in->nclients == INFER_CLIENTS_MAX || (c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return 0;
	}
	c->fd = fd;
	in->clients[in->nclients++] = c;
	return 0;
}

static void *listener_main(void *arg)
{
	struct infer *in = arg;
	struct pollfd pfd[2 + INFER_CLIENTS_MAX];
	int backoff = 0;

	for (;;) {
		size_t n = in->nclients;

		pfd[0] = (struct pollfd){.fd = in->wake[0], .events = POLLIN};
		pfd[1] = (struct pollfd){.fd = backoff ? -1 : in->lfd, .events = POLLIN};
		for (size_t i = 0; i < n; i++)
			pfd[2 + i] = (struct pollfd){.fd = in->clients[i]->fd, .events = POLLIN};
		if (poll(pfd, 2 + n, backoff ? 100 : -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[0].revents)
			break;
		/* downwards: client_remove moves the last client into the freed slot */
		for (size_t i = n; i-- > 0;)
			if (pfd[2 + i].revents && client_read(in, in->clients[i]) != 0)
				client_remove(in, i);
		backoff = 0;
		if (pfd[1].revents & POLLIN)
			backoff = accept_one(in) != 0;
	}
	return NULL;
}

/* ---- open, take, close ---- */

/* Clears the way for bind: nothing there, or a socket nobody accepts on (removed). */
static int clear_stale(const char *path, const struct sockaddr_un *sa, struct ramp_err *err)
{
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		return ramp_err_set(err, RAMP_EIO, "telemetry-socket", "could not stat %s: %s",
				    path, strerror(errno));
	}
	if (!S_ISSOCK(st.st_mode))
		return ramp_err_set(err, RAMP_EINVAL, "telemetry-socket",
				    "%s exists and is not a socket", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ramp_err_set(err, RAMP_EIO, "telemetry-socket", "socket: %s",
				    strerror(errno));
	rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	close(fd);
	if (rc == 0)
		return ramp_err_set(err, RAMP_EINVAL, "telemetry-socket",
				    "%s is in use by another listener", path);
	if (errno != ECONNREFUSED || unlink(path) != 0)
		return ramp_err_set(err, RAMP_EIO, "telemetry-socket", "could not replace %s: %s",
				    path, strerror(errno));
	return 0;
}

/* Socket, bind (mode 0666), listen; the descriptor or -1 with *err filled. */
static int listen_at(struct infer *in, const struct sockaddr_un *sa, struct ramp_err *err)
{
	struct stat st;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		ramp_err_set(err, RAMP_EIO, "telemetry-socket", "socket: %s", strerror(errno));
		return -1;
	}
	if (bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) != 0) {
		ramp_err_set(err, RAMP_EIO, "telemetry-socket", "could not bind %s: %s", in->path,
			     strerror(errno));
		close(fd);
		return -1;
	}
	if (chmod(in->path, 0666) != 0 || listen(fd, 64) != 0 || stat(in->path, &st) != 0) {
		ramp_err_set(err, RAMP_EIO, "telemetry-socket", "could not listen on %s: %s",
			     in->path, strerror(errno));
		close(fd);
		unlink(in->path);
		return -1;
	}
	in->dev = st.st_dev;
	in->ino = st.st_ino;
	return fd;
}

/* The listener thread, started with every signal blocked so they go to the agent's threads. */
static int start_thread(struct infer *in)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&in->thread, NULL, listener_main, in);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

struct infer *infer_open(const char *path, struct ramp_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct infer *in;

	if (path == NULL || path[0] == '\0' || strlen(path) >= sizeof(sa.sun_path)) {
		ramp_err_set(err, RAMP_EINVAL, "telemetry-socket",
			     "must be a path shorter than %zu bytes", sizeof(sa.sun_path));
		return NULL;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	in = calloc(1, sizeof(*in));
	if (in == NULL || (in->path = strdup(path)) == NULL) {
		free(in);
		ramp_err_set(err, RAMP_ENOMEM, "telemetry-socket", "out of memory");
		return NULL;
	}
	in->lfd = in->wake[0] = in->wake[1] = -1;
	if (clear_stale(path, &sa, err) != 0 || (in->lfd = listen_at(in, &sa, err)) < 0)
		goto fail;
	if (pipe2(in->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		ramp_err_set(err, RAMP_EIO, "telemetry-socket", "pipe: %s", strerror(errno));
		goto fail_bound;
	}
	pthread_mutex_init(&in->lock, NULL);
	if (start_thread(in) != 0) {
		ramp_err_set(err, RAMP_EIO, "telemetry-socket",
			     "could not start the listener thread");
		pthread_mutex_destroy(&in->lock);
		goto fail_bound;
	}
	return in;
fail_bound:
	unlink(path);
fail:
	if (in->lfd >= 0)
		close(in->lfd);
	if (in->wake[0] >= 0) {
		close(in->wake[0]);
		close(in->wake[1]);
	}
	free(in->path);
	free(in);
	return NULL;
}

/* m's report under label, or NULL on out of memory. */
static json_t *model_report(struct infer_model *m, const char *label)
{
	json_t *r;

	if (m->has_requests)
		r = stats_take(&m->st, label);
	else
		r = json_pack("{s:s}", "model", label);
	if (r == NULL)
		return NULL;
	if (m->npu_n)
		json_object_set_new(r, "npu_pct", json_real(m->npu_sum / (double)m->npu_n));
	if (m->has_load)
		json_object_set_new(r, "model_load_ms", json_real(m->load_ms));
	for (int f = F_EXC; f < F_N; f++)
		if (m->has_count[f])
			json_object_set_new(r, infer_fields[f].name,
					    json_integer((json_int_t)m->count[f]));
	return r;
}

void infer_take(struct infer *in, json_t *reports,
		int (*label)(void *cls, const char *model, char *buf, size_t cap), void *cls)
{
	struct infer_model *taken[INFER_MODELS_MAX];
	size_t n;

	pthread_mutex_lock(&in->lock);
	n = in->nmodels;
	memcpy(taken, in->models, n * sizeof(taken[0]));
	in->nmodels = 0;
	pthread_mutex_unlock(&in->lock);
	for (size_t i = 0; i < n; i++) {
		struct infer_model *m = taken[i];
		char buf[192] = "";
		json_t *r = NULL;

		if (label(cls, m->name, buf, sizeof(buf)) == 0) {
			buf[sizeof(buf) - 1] = '\0';
			r = model_report(m, buf);
		}
		if (r == NULL || json_array_append_new(reports, r) != 0)
			atomic_fetch_add(&in->dropped, m->lines);
		free(m);
	}
}

unsigned long infer_dropped(const struct infer *in)
{
	return atomic_load(&((struct infer *)in)->dropped);
}

void infer_close(struct infer *in)
{
	struct stat st;
	char b = 1;

	if (in == NULL)
		return;
	while (write(in->wake[1], &b, 1) < 0 && errno == EINTR)
		;
	pthread_join(in->thread, NULL);
	while (in->nclients > 0)
		client_remove(in, in->nclients - 1);
	close(in->lfd);
	close(in->wake[0]);
	close(in->wake[1]);
	/* another agent may have replaced the socket since: only ours goes */
	if (lstat(in->path, &st) == 0 && st.st_dev == in->dev && st.st_ino == in->ino)
		unlink(in->path);
	for (size_t i = 0; i < in->nmodels; i++)
		free(in->models[i]);
	pthread_mutex_destroy(&in->lock);
	free(in->path);
	free(in);
}
