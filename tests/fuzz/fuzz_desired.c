/*
 * fuzz_desired.c - libFuzzer target for the agent's reading of
 * GET /v1/agent/desired (agent/lib/desired.h): the controller is not
 * trusted, so any bytes must parse into bounded fields or be refused naming
 * a field, without a crash or a leak.  Every model and version that parses
 * must also be safe as a path part of the model store (store.h), since the
 * agent builds <model-dir>/<model>/<version>/ from them.
 *
 * `make fuzz` links each target with server/common and server/domain only,
 * so the agent sources this needs are included here rather than linked.
 */
#include "../../agent/lib/desired.c"
#include "../../agent/lib/store.c"

#include <assert.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ramp_err err = {0};
	struct desired d;

	if (desired_parse((const char *)data, size, &d, &err) != 0) {
		assert(err.msg[0] != 0);
		return 0;
	}
	for (size_t i = 0; i < d.n; i++) {
		const struct desired_model *m = &d.models[i];
		assert(memchr(m->model, 0, sizeof(m->model)) && memchr(m->version, 0, sizeof(m->version)));
		assert(strncmp(m->digest, "sha256:", 7) == 0 && strlen(m->digest) == 71);
		if (!mstore_name_ok(m->model) || !mstore_name_ok(m->version))
			continue; /* reconcile() skips such an entry */
		assert(!strchr(m->model, '/') && !strchr(m->version, '/'));
		assert(m->version[0] != '.' && m->model[0] != '.');
	}
	desired_find(&d, "ocr", NULL);
	desired_free(&d);
	return 0;
}
