/*
 * fuzz_delta.c - libFuzzer target for delta metadata: the registration body
 * CI posts (server side) and the "delta" object of a desired entry (agent
 * side), and the "delta" of an agent's status report. A parse that succeeds yields well-formed digests, a positive size
 * and a NUL-terminated url; a failure leaves the output empty.
 */
#include "domain/delta.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ramp_err err = {0};
	struct delta_meta m;
	struct delta_offer o;
	struct delta_report rep;
	json_t *root, *j;

	if (delta_meta_parse((const char *)data, size, &m, &err) == 0) {
		if (!delta_digest_ok(m.from) || !delta_digest_ok(m.to) ||
		    !delta_digest_ok(m.digest) || strcmp(m.from, m.to) == 0)
			abort();
	} else if (m.from[0] || m.to[0] || m.digest[0] || err.code == 0) {
		abort();
	}
	root = json_loadb((const char *)data, size, 0, NULL);
	if (root == NULL)
		return 0;
	memset(&err, 0, sizeof(err));
	if (delta_offer_parse(root, "models[0].delta", &o, &err) == 0) {
		if (!delta_digest_ok(o.from) || !delta_digest_ok(o.digest) || o.size <= 0 ||
		    memchr(o.url, 0, sizeof(o.url)) == NULL || o.url[0] == 0)
			abort();
	} else if (err.code == 0 || err.field[0] == 0) {
		abort();
	}
	/* the agent's status report "delta": a parse that succeeds re-serializes and parses again */
	memset(&err, 0, sizeof(err));
	if (delta_report_parse(root, "delta", &rep, &err) == 0) {
		struct delta_report again;
		if ((rep.fallback[0] == 0) == (rep.bytes < 0 || rep.saved < 0))
			abort();
		if ((j = delta_report_json(&rep)) == NULL)
			abort();
		if (delta_report_parse(j, "delta", &again, &err) != 0 ||
		    memcmp(&again, &rep, sizeof(rep)) != 0)
			abort();
		json_decref(j);
	} else if (err.code == 0) {
		abort();
	}
	json_decref(root);
	return 0;
}
