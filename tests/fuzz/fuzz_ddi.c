/*
 * fuzz_ddi.c - libFuzzer target for hawkBit DDI feedback: any JSON body
 * either parses into a known execution/finished pair with a terminated
 * detail, or is refused with a field; the outcome of a parsed one always
 * names a record state. Action ids parse only in 1 .. 2^31-1.
 */
#include "domain/ddi.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j = json_loadb((const char *)data, size, 0, NULL);
	struct ddi_feedback f;
	struct ddi_outcome o;
	struct ramp_err e;
	char *s;
	int64_t id = 0;

	if (j) {
		ramp_err_clear(&e);
		if (ddi_feedback_parse(j, &f, &e) == 0) {
			if (f.execution > DDI_EXEC_DOWNLOAD || f.finished > DDI_FIN_NONE ||
			    memchr(f.detail, '\0', sizeof(f.detail)) == NULL)
				abort();
			ddi_deploy_outcome(&f, &o);
			if (o.action_state == NULL)
				abort();
			(void)ddi_cancel_outcome(&f);
		} else if (e.msg[0] == '\0') {
			abort();
		}
		json_decref(j);
	}
	s = malloc(size + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (ddi_action_id_parse(s, &id) == 0 && (id < 1 || id > DDI_ACTION_ID_MAX))
		abort();
	free(s);
	return 0;
}
