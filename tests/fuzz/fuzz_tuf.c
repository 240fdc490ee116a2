/*
 * fuzz_tuf.c - libFuzzer target: the TUF metadata parser on arbitrary
 * bytes, as each of the four roles, must not crash or leak; a document it
 * accepts must have a version, an expiry, canonical bytes and a "signed"
 * object, and the client workflow fed it as a root must not crash either.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "domain/tuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ramp_err err;
	struct tuf_trust t;
	json_t *doc;

	for (int type = TUF_ROOT; type <= TUF_TARGETS; type++) {
		struct buf b;

		if (tuf_parse((const char *)data, size, TUF_MAX_META, type, &doc, &err) != 0) {
			if (err.code == 0 || err.msg[0] == '\0' || doc != NULL)
				abort();
			continue;
		}
		buf_init(&b, 0);
		if (tuf_version(doc) < 1 || tuf_expires(doc) < 0 || tuf_signed(doc) == NULL)
			abort();
		(void)tuf_cjson(tuf_signed(doc), &b);
		buf_free(&b);
		json_decref(doc);
	}
	if (tuf_trust_init(&t, (const char *)data, size, &err) == 0) {
		const json_t *info;
		char need[64], parent[64];

		(void)tuf_update_root(&t, (const char *)data, size, &err);
		(void)tuf_update_timestamp(&t, (const char *)data, size, 0, &err);
		(void)tuf_find_target(&t, "a/b", &info, need, parent, &err);
		tuf_trust_free(&t);
	}
	return 0;
}
