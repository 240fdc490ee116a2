/*
 * fuzz_infer_line.c - libFuzzer target for what an inference process writes
 * to the agent's telemetry socket (agent/lib/infer.h).  The bytes go once
 * through infer_parse_line() as one line: a parsed line holds only valid,
 * finite figures, a refused one names its token.  Then they go through the
 * listener's framing (client_feed, split into reads at sizes taken from the
 * first byte) into the accumulators and out through infer_take(): nothing
 * may crash or leak, and every report is an object with its model label.
 *
 * `make fuzz` links each target with server/common and server/domain only,
 * so the agent sources this needs are included here rather than linked.
 */
#include "../../agent/lib/infer.c"
#include "../../agent/lib/stats.c"

#include <assert.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_parsed(const struct infer_line *l)
{
	assert(memchr(l->model, '\0', sizeof(l->model)) != NULL && valid_model(l->model));
	if (l->kind == INFER_REQUEST) {
		assert(isfinite(l->latency_ms) && l->latency_ms >= 0);
		assert(l->error == 0 || l->error == 1);
		assert(isnan(l->confidence) || (l->confidence >= 0 && l->confidence <= 1));
		assert(l->nfields == 0);
		return;
	}
	assert(l->kind == INFER_FIELDS && l->nfields >= 1 && l->nfields <= F_N);
	for (size_t i = 0; i < l->nfields; i++) {
		assert(isfinite(l->value[i]) && l->value[i] >= 0);
		for (size_t j = 0; j < i; j++)
			assert(strcmp(l->field[i], l->field[j]) != 0);
	}
}

static int fuzz_label(void *cls, const char *model, char *buf, size_t cap)
{
	(void)cls;
	if (model[0] == 'x')
		return -1;
	snprintf(buf, cap, "%s:1", model);
	return 0;
}

/* The bytes as a client's stream: reads of 1..64 bytes, then the client goes. */
static void feed_stream(const uint8_t *data, size_t size)
{
	struct infer *in = calloc(1, sizeof(*in));
	struct infer_client *c = calloc(1, sizeof(*c));
	json_t *reports = json_array(), *r;
	size_t step = size ? (size_t)(data[0] % 64) + 1 : 1, i;

	assert(in && c && reports);
	pthread_mutex_init(&in->lock, NULL);
	for (size_t off = 0; off < size; off += step)
		client_feed(in, c, (const char *)data + off, size - off < step ? size - off : step);
	assert(c->len <= INFER_LINE_MAX);
	infer_take(in, reports, fuzz_label, NULL);
	assert(in->nmodels == 0 && json_array_size(reports) <= INFER_MODELS_MAX);
	json_array_foreach(reports, i, r)
		assert(json_is_object(r) && json_is_string(json_object_get(r, "model")));
	json_decref(reports);
	pthread_mutex_destroy(&in->lock);
	free(c);
	free(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct infer_line l;
	struct ramp_err err;

	ramp_err_clear(&err);
	if (infer_parse_line((const char *)data, size, &l, &err) == 0)
		check_parsed(&l);
	else
		assert(err.code == RAMP_EINVAL && err.field[0] != '\0' && err.msg[0] != '\0');
	feed_stream(data, size);
	return 0;
}
