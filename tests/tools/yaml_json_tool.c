/*
 * yaml_json_tool.c - prints a YAML file as a JSON array of its documents
 * (split at lines that are exactly "---"), through rampd's own YAML
 * loader; exit 1 naming the line when a document does not parse. The
 * deploy/ tests check the Kubernetes manifests with it, so the test suite
 * needs no YAML module beyond what rampd links.
 *
 *   yaml-json FILE
 */
#include "domain/yaml_json.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n;

	*len = 0;
	if (f == NULL)
		return NULL;
	do {
		if (cap - *len < 4096) {
			char *nb = realloc(buf, cap ? cap * 2 : 65536);
			if (nb == NULL) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
			cap = cap ? cap * 2 : 65536;
		}
		n = fread(buf + *len, 1, cap - *len - 1, f);
		*len += n;
	} while (n > 0);
	fclose(f);
	buf[*len] = '\0';
	return buf;
}

/* Loads data[0..len) (one document) and appends it to docs unless empty. */
static int add_doc(json_t *docs, const char *data, size_t len, int first_line)
{
	struct ramp_err err;
	json_t *doc = NULL;
	size_t i = 0;

	while (i < len && (data[i] == ' ' || data[i] == '\n' || data[i] == '\t' || data[i] == '\r'))
		i++;
	if (i == len)
		return 0;
	ramp_err_clear(&err);
	if (yaml_json_load(data, len, &doc, &err) != 0) {
		fprintf(stderr, "document starting at line %d: %s\n", first_line, err.msg);
		return -1;
	}
	json_array_append_new(docs, doc);
	return 0;
}

int main(int argc, char **argv)
{
	size_t len, start = 0;
	char *text, *out;
	json_t *docs = json_array();
	int line = 1, start_line = 1;

	if (argc != 2 || (text = slurp(argv[1], &len)) == NULL) {
		fprintf(stderr, "usage: yaml-json FILE\n");
		return 2;
	}
	for (size_t i = 0; i <= len; i++) {
		bool eol = i == len || text[i] == '\n';
		if (!eol)
			continue;
		size_t ls = i;
		while (ls > 0 && text[ls - 1] != '\n')
			ls--;
		if (i - ls == 3 && strncmp(text + ls, "---", 3) == 0) {
			if (add_doc(docs, text + start, ls - start, start_line) != 0)
				return 1;
			start = i + 1 > len ? len : i + 1;
			start_line = line + 1;
		}
		line++;
	}
	if (add_doc(docs, text + start, len - start, start_line) != 0)
		return 1;
	out = json_dumps(docs, JSON_INDENT(1));
	puts(out);
	free(out);
	free(text);
	json_decref(docs);
	return 0;
}
