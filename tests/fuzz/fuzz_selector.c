/*
 * fuzz_selector.c - libFuzzer target for the label-selector parser.
 *
 * Parses arbitrary bytes; whatever parses must format to text that parses
 * again, formats to the same text, and matches the same fixed label sets.
 */
#include "domain/selector.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const labels_a[] = {
	"platform", "rpi-arm64", "site", "wh-3", "age_days", "400",
	"example.com/tier", "gold", "empty", "", "ver", "2026.01:rc1",
	"neg", "-1.5", "n", "nan", NULL,
};
static const char *const labels_b[] = {"k", "", "a", "1", "in", "notin", NULL};
static const char *const labels_none[] = {NULL};

static const char *lookup(void *ctx, const char *key)
{
	const char *const *kv = ctx;

	for (; kv[0] != NULL; kv += 2)
		if (strcmp(kv[0], key) == 0)
			return kv[1];
	return NULL;
}

static unsigned match_bits(const struct selector *s)
{
	return (unsigned)selector_match(s, lookup, (void *)labels_a) |
	       (unsigned)selector_match(s, lookup, (void *)labels_b) << 1 |
	       (unsigned)selector_match(s, lookup, (void *)labels_none) << 2;
}

/* Returns a malloc'd canonical text of s; aborts if format is inconsistent. */
static char *format_alloc(const struct selector *s)
{
	int need = selector_format(s, NULL, 0);
	char *buf;

	if (need < 0)
		abort();
	buf = malloc((size_t)need + 1);
	if (buf == NULL || selector_format(s, buf, (size_t)need + 1) != need ||
	    strlen(buf) != (size_t)need)
		abort();
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct selector *s = NULL, *t = NULL;
	struct ramp_err err;
	char *text, *f1, *f2;

	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (selector_parse(text, &s, &err) != 0) {
		if (s != NULL || err.field[0] == '\0' || err.msg[0] == '\0')
			abort();
		free(text);
		return 0;
	}
	f1 = format_alloc(s);
	if (strlen(f1) > strlen(text))
		abort(); /* the canonical form never grows */
	if (selector_parse(f1, &t, &err) != 0)
		abort();
	f2 = format_alloc(t);
	if (strcmp(f1, f2) != 0 || selector_count(s) != selector_count(t) ||
	    match_bits(s) != match_bits(t))
		abort();
	for (size_t i = 0; i < selector_count(s); i++)
		if (!selector_label_key_valid(selector_get(s, i)->key))
			abort();
	selector_free(s);
	selector_free(t);
	free(f1);
	free(f2);
	free(text);
	return 0;
}
