/*
 * fuzz_promql.c - libFuzzer target for the Prometheus gate's readers: the
 * /api/v1/query answer (any bytes, any HTTP status) gives PROM_VALUE with a
 * non-NaN value, or NODATA/ERROR with NaN and a reason; the same bytes as a
 * query template either are refused or render into the buffer, NUL-ended,
 * with every variable's value escaped so no quote stays bare.
 */
#include "domain/promql.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[256], out[PROM_QUERY_MAX], *s;
	double v;
	enum prom_outcome o = prom_parse_response((const char *)data, size, 200, &v, why, sizeof(why));
	struct prom_vars vars = {"m\"", "v\\", "b'", "s\n", "1"};

	if (o == PROM_VALUE && isnan(v))
		abort();
	if (o != PROM_VALUE && (!isnan(v) || why[0] == '\0'))
		abort();
	if (strnlen(why, sizeof(why)) == sizeof(why))
		abort();
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (prom_render(s, &vars, NULL, out, sizeof(out)) == 0) {
		if (strnlen(out, sizeof(out)) == sizeof(out))
			abort();
		/* a template without quotes or backslashes of its own: every quote
		 * in the output came from a value and must be escaped */
		if (!strpbrk(s, "\"'\\"))
			for (const char *p = out; *p; p++)
				if ((*p == '"' || *p == '\'') && (p == out || p[-1] != '\\'))
					abort();
		if (prom_template_check(s, why, sizeof(why)) != 0)
			abort();
	}
	free(s);
	return 0;
}
