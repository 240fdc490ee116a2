/*
 * test_agent_infer.c - the inference-figures socket (agent/lib/infer.h): the
 * line parser's accepted forms and every refusal, then the listener for real
 * over a Unix socket in a temporary directory.  The listener runs on its own
 * thread; a test knows it has read everything a client wrote by ending the
 * write with a malformed line and waiting for the dropped count to reach it
 * (a client's bytes are handled in order).
 */
#include "infer.h"

#include "../unit/unit.h"
#include "scratch.h"

#include <errno.h>
#include <limits.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

static char sock_path[128];

static const char *scratch_socket(void)
{
	snprintf(sock_path, sizeof(sock_path), "%s/infer.sock", scratch("infer"));
	return sock_path;
}

static int parse(const char *line, struct infer_line *l, struct ramp_err *err)
{
	ramp_err_clear(err);
	return infer_parse_line(line, strlen(line), l, err);
}

/* Refused with err.field == field. */
#define CHECK_REFUSED(line, fieldname)                                                             \
	do {                                                                                       \
		struct infer_line l_;                                                              \
		struct ramp_err e_;                                                                \
		CHECK_EQ_INT(parse(line, &l_, &e_), RAMP_EINVAL);                                  \
		CHECK_EQ_STR(e_.field, fieldname);                                                 \
		CHECK(e_.msg[0] != '\0');                                                          \
	} while (0)

static int connect_to(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		perror("connect");
		exit(1);
	}
	return fd;
}

static void send_all(int fd, const char *s)
{
	size_t n = strlen(s);

	while (n > 0) {
		ssize_t w = write(fd, s, n);

		if (w <= 0) {
			perror("write");
			exit(1);
		}
		s += w;
		n -= (size_t)w;
	}
}

/* Waits (up to 20 s, a hang guard, not a timing check) for the dropped count to reach want. */
static void wait_dropped(const struct infer *in, unsigned long want)
{
	for (int i = 0; i < 20000 && infer_dropped(in) < want; i++)
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	CHECK_EQ_INT(infer_dropped(in), want);
}

/* "<model>:1.<length>", or -1 (a model not run here) for names from 'g' on but r and y. */
static int label(void *cls, const char *model, char *buf, size_t cap)
{
	int *calls = cls;

	(*calls)++;
	if (model[0] >= 'g' && model[0] != 'r' && model[0] != 'y')
		return -1;
	snprintf(buf, cap, "%s:1.%d", model, (int)strlen(model));
	return 0;
}

static json_t *report_for(const json_t *reports, const char *model)
{
	size_t i;
	json_t *r;

	json_array_foreach(reports, i, r)
		if (strcmp(json_string_value(json_object_get(r, "model")), model) == 0)
			return r;
	return NULL;
}

static long long hist_sum(const json_t *r, const char *key)
{
	const json_t *counts = json_object_get(json_object_get(r, key), "counts");
	size_t i;
	json_t *c;
	long long sum = 0;

	json_array_foreach(counts, i, c)
		sum += json_integer_value(c);
	return sum;
}

static void parse_reads_a_request_line_with_and_without_confidence(void)
{
	struct infer_line l;
	struct ramp_err err;

	CHECK_EQ_INT(parse("resnet50 12.5 ok 0.93", &l, &err), 0);
	CHECK_EQ_STR(l.model, "resnet50");
	CHECK_EQ_INT(l.kind, INFER_REQUEST);
	CHECK_NEAR(l.latency_ms, 12.5, 1e-12);
	CHECK_EQ_INT(l.error, 0);
	CHECK_NEAR(l.confidence, 0.93, 1e-12);
	CHECK_EQ_INT(parse("m.v-2_x\t3e1  error\r", &l, &err), 0);
	CHECK_EQ_STR(l.model, "m.v-2_x");
	CHECK_NEAR(l.latency_ms, 30, 1e-12);
	CHECK_EQ_INT(l.error, 1);
	CHECK(isnan(l.confidence));
	CHECK_EQ_INT(parse("0 0 ok 1", &l, &err), 0);
	CHECK_NEAR(l.confidence, 1, 0);
}

static void parse_reads_a_fields_line_in_order(void)
{
	struct infer_line l;
	struct ramp_err err;
	const char *line = "yolo npu_pct=41.5 model_load_ms=820 exceptions=2 oom_kills=0 timeouts=7";

	CHECK_EQ_INT(parse(line, &l, &err), 0);
	CHECK_EQ_INT(l.kind, INFER_FIELDS);
	CHECK_EQ_INT(l.nfields, 5);
	CHECK_EQ_STR(l.field[0], "npu_pct");
	CHECK_NEAR(l.value[0], 41.5, 1e-12);
	CHECK_EQ_STR(l.field[1], "model_load_ms");
	CHECK_NEAR(l.value[1], 820, 0);
	CHECK_EQ_STR(l.field[4], "timeouts");
	CHECK_NEAR(l.value[4], 7, 0);
	CHECK_EQ_INT(parse("yolo npu_pct=100", &l, &err), 0);
}

static void parse_refuses_each_malformed_line_naming_the_token(void)
{
	char longline[INFER_LINE_MAX + 16], model64[80];

	CHECK_REFUSED("", "line");
	CHECK_REFUSED("   ", "line");
	CHECK_REFUSED("Resnet 1 ok", "model");
	CHECK_REFUSED("-resnet 1 ok", "model");
	CHECK_REFUSED("res/net 1 ok", "model");
	memset(model64, 'a', 64);
	memcpy(model64 + 64, " 1 ok", 6);
	CHECK_REFUSED(model64, "model");
	CHECK_REFUSED("resnet", "line");
	CHECK_REFUSED("resnet 12", "line");
	CHECK_REFUSED("resnet -1 ok", "latency_ms");
	CHECK_REFUSED("resnet nan ok", "latency_ms");
	CHECK_REFUSED("resnet inf ok", "latency_ms");
	CHECK_REFUSED("resnet 1e999 ok", "latency_ms");
	CHECK_REFUSED("resnet 0x10 ok", "latency_ms");
	CHECK_REFUSED("resnet 12ms ok", "latency_ms");
	CHECK_REFUSED("resnet 12 fine", "outcome");
	CHECK_REFUSED("resnet 12 ok 1.5", "confidence");
	CHECK_REFUSED("resnet 12 ok -0.1", "confidence");
	CHECK_REFUSED("resnet 12 ok high", "confidence");
	CHECK_REFUSED("resnet 12 ok 0.5 extra", "line");
	CHECK_REFUSED("resnet gpu_pct=3", "gpu_pct");
	CHECK_REFUSED("resnet npu_pct=3 npu_pct=4", "npu_pct");
	CHECK_REFUSED("resnet npu_pct=101", "npu_pct");
	CHECK_REFUSED("resnet npu_pct=-1", "npu_pct");
	CHECK_REFUSED("resnet npu_pct=", "npu_pct");
	CHECK_REFUSED("resnet model_load_ms=nan", "model_load_ms");
	CHECK_REFUSED("resnet exceptions=1.5", "exceptions");
	CHECK_REFUSED("resnet timeouts=1e20", "timeouts");
	CHECK_REFUSED("resnet npu_pct=3 junk", "line");
	CHECK_REFUSED("resnet =5", "line");
	CHECK_REFUSED("m a b c d e f g h i", "line");
	memset(longline, 'a', sizeof(longline));
	memcpy(longline, "m 1 ok ", 7);
	longline[INFER_LINE_MAX + 1] = '\0';
	CHECK_REFUSED(longline, "line");
	{
		struct infer_line l;
		struct ramp_err e;

		CHECK_EQ_INT(infer_parse_line("m 1\0 ok", 7, &l, &e), RAMP_EINVAL);
		CHECK_EQ_STR(e.field, "line");
	}
}

static void listener_reports_per_model_figures_from_lines_split_across_writes(void)
{
	const char *path = scratch_socket();
	struct ramp_err err = {0};
	struct infer *in = infer_open(path, &err);
	json_t *reports = json_array(), *r;
	char big[2100];
	int fd, calls = 0;

	CHECK(in != NULL);
	if (in == NULL)
		return;
	fd = connect_to(path);
	/* a request line split across two writes */
	send_all(fd, "resnet 12 ok 0.9\n!malformed\nresnet 30 err");
	wait_dropped(in, 1);
	send_all(fd, "or 0.2\nresnet npu_pct=40 exceptions=2\n"
		     "resnet npu_pct=60 model_load_ms=100\nresnet model_load_ms=120 exceptions=1 "
		     "timeouts=3\n"
		     "ghost 1 ok\nfonly npu_pct=10\n");
	memset(big, 'x', sizeof(big) - 2);
	memcpy(big, "resnet 1 ok ", 12);
	big[sizeof(big) - 2] = '\n';
	big[sizeof(big) - 1] = '\0';
	send_all(fd, big);
	send_all(fd, "yolo 5 ok\nyolo 7 ok 0.5\nyolo 5 ok 2\n");
	wait_dropped(in, 3); /* the oversize line and the last yolo line */

	infer_take(in, reports, label, &calls);
	CHECK_EQ_INT(calls, 4);
	CHECK_EQ_INT(json_array_size(reports), 3);
	CHECK_EQ_INT(infer_dropped(in), 4); /* ghost's line */
	r = report_for(reports, "resnet:1.6");
	CHECK(r != NULL);
	CHECK_EQ_INT(json_integer_value(json_object_get(r, "requests")), 2);
	CHECK_EQ_INT(json_integer_value(json_object_get(r, "errors")), 1);
	CHECK_NEAR(json_number_value(json_object_get(r, "latency_ms")), 21, 1e-9);
	CHECK_EQ_INT(hist_sum(r, "latency_hist"), 2);
	CHECK_EQ_INT(hist_sum(r, "confidence_hist"), 2);
	CHECK_NEAR(json_number_value(json_object_get(r, "confidence_mean")), 0.55, 1e-9);
	CHECK_NEAR(json_number_value(json_object_get(r, "npu_pct")), 50, 1e-9);
	CHECK_NEAR(json_number_value(json_object_get(r, "model_load_ms")), 120, 1e-9);
	CHECK(json_is_integer(json_object_get(r, "exceptions")));
	CHECK_EQ_INT(json_integer_value(json_object_get(r, "exceptions")), 3);
	CHECK_EQ_INT(json_integer_value(json_object_get(r, "timeouts")), 3);
	CHECK(json_object_get(r, "oom_kills") == NULL);
	r = report_for(reports, "yolo:1.4");
	CHECK(r != NULL);
	CHECK_EQ_INT(json_integer_value(json_object_get(r, "requests")), 2);
	CHECK_EQ_INT(json_integer_value(json_object_get(r, "errors")), 0);
	CHECK_EQ_INT(hist_sum(r, "latency_hist"), 2);
	CHECK(json_object_get(r, "npu_pct") == NULL);
	r = report_for(reports, "fonly:1.5");
	CHECK(r != NULL);
	CHECK(json_object_get(r, "requests") == NULL); /* gauges only: no request count */
	CHECK_NEAR(json_number_value(json_object_get(r, "npu_pct")), 10, 1e-9);

	json_array_clear(reports);
	infer_take(in, reports, label, &calls);
	CHECK_EQ_INT(json_array_size(reports), 0);
	close(fd);
	json_decref(reports);
	infer_close(in);
	scratch_done();
}

static void listener_drops_an_unterminated_line_when_the_client_goes(void)
{
	const char *path = scratch_socket();
	struct infer *in = infer_open(path, NULL);
	json_t *reports = json_array();
	int fd, calls = 0;

	fd = connect_to(path);
	send_all(fd, "resnet 1 ok\nresnet 2 ok");
	close(fd);
	wait_dropped(in, 1);
	infer_take(in, reports, label, &calls);
	CHECK_EQ_INT(json_array_size(reports), 1);
	CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(reports, 0), "requests")),
		     1);
	json_decref(reports);
	infer_close(in);
	scratch_done();
}

static void listener_tracks_at_most_sixteen_models_per_interval(void)
{
	const char *path = scratch_socket();
	struct infer *in = infer_open(path, NULL);
	json_t *reports = json_array();
	char line[64];
	int fd, calls = 0;

	fd = connect_to(path);
	for (int i = 0; i < INFER_MODELS_MAX + 1; i++) {
		snprintf(line, sizeof(line), "r%d 1 ok\n", i);
		send_all(fd, line);
	}
	send_all(fd, "!sync\n");
	wait_dropped(in, 2);
	infer_take(in, reports, label, &calls);
	CHECK_EQ_INT(json_array_size(reports), INFER_MODELS_MAX);
	/* a new interval starts with room again */
	send_all(fd, "r99 1 ok\n!sync\n");
	wait_dropped(in, 3);
	json_array_clear(reports);
	infer_take(in, reports, label, &calls);
	CHECK_EQ_INT(json_array_size(reports), 1);
	close(fd);
	json_decref(reports);
	infer_close(in);
	scratch_done();
}

static void open_makes_the_socket_world_writable_and_close_removes_it(void)
{
	const char *path = scratch_socket();
	struct infer *in = infer_open(path, NULL);
	struct stat st;

	CHECK(in != NULL);
	CHECK(stat(path, &st) == 0 && S_ISSOCK(st.st_mode));
	CHECK_EQ_INT(st.st_mode & 0777, 0666);
	infer_close(in);
	CHECK(access(path, F_OK) != 0);
	infer_close(NULL);
	scratch_done();
}

static void open_replaces_a_stale_socket_but_not_a_live_one_or_a_file(void)
{
	const char *path = scratch_socket();
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct ramp_err err = {0};
	struct infer *in, *second;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	FILE *f;

	/* a socket file nobody listens on, as a crashed agent leaves it */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	close(fd);
	in = infer_open(path, &err);
	CHECK(in != NULL);
	second = infer_open(path, &err);
	CHECK(second == NULL);
	CHECK_EQ_STR(err.field, "telemetry-socket");
	infer_close(in);

	f = fopen(path, "w");
	fputs("keep me", f);
	fclose(f);
	ramp_err_clear(&err);
	CHECK(infer_open(path, &err) == NULL);
	CHECK_EQ_STR(err.field, "telemetry-socket");
	CHECK(access(path, F_OK) == 0);
	scratch_done();
}

static void open_refuses_a_path_too_long_for_a_unix_socket(void)
{
	char path[200];
	struct ramp_err err = {0};

	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	CHECK(infer_open(path, &err) == NULL);
	CHECK_EQ_INT(err.code, RAMP_EINVAL);
	CHECK_EQ_STR(err.field, "telemetry-socket");
}

static const struct unit_case cases[] = {
	UNIT(parse_reads_a_request_line_with_and_without_confidence),
	UNIT(parse_reads_a_fields_line_in_order),
	UNIT(parse_refuses_each_malformed_line_naming_the_token),
	UNIT(listener_reports_per_model_figures_from_lines_split_across_writes),
	UNIT(listener_drops_an_unterminated_line_when_the_client_goes),
	UNIT(listener_tracks_at_most_sixteen_models_per_interval),
	UNIT(open_makes_the_socket_world_writable_and_close_removes_it),
	UNIT(open_replaces_a_stale_socket_but_not_a_live_one_or_a_file),
	UNIT(open_refuses_a_path_too_long_for_a_unix_socket),
	{0},
};

UNIT_MAIN(cases)
