/*
 * fuzz_gitops.c - libFuzzer target for the GitOps layout parser: the input
 * is split into files at "\n%%\n" (each file's first line is its path), so
 * paths, layouts and every parser behind them (keys, manifests, policies,
 * cohorts, releases) get arbitrary bytes. A parse must succeed or fail with
 * a reason; gitops_entry_check and gitops_line_of take the same bytes.
 */
#include "domain/gitops.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILES 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *p, *paths[MAX_FILES];
	struct gitops_file f[MAX_FILES];
	struct gitops_state st;
	struct gitops_err err;
	size_t n = 0;
	int rc;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	p = buf;
	while (p && n < MAX_FILES) {
		char *end = strstr(p, "\n%%\n"), *nl;
		if (end)
			*end = '\0';
		nl = strchr(p, '\n');
		paths[n] = p;
		if (nl)
			*nl = '\0';
		f[n].path = paths[n];
		f[n].data = nl ? nl + 1 : "";
		f[n].len = strlen(f[n].data);
		(void)gitops_entry_check(f[n].path, GITOPS_MODE_BLOB, f[n].len, &err);
		(void)gitops_line_of(f[n].data, f[n].len, f[n].path);
		n++;
		p = end ? end + 4 : NULL;
	}
	rc = gitops_parse(f, n, NULL, &st, &err);
	if (rc == 0)
		gitops_state_free(&st);
	else if (err.reason[0] == '\0' || memchr(err.file, '\0', sizeof(err.file)) == NULL)
		abort(); /* every refusal says why */
	free(buf);
	return 0;
}
