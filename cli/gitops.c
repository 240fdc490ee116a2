/*
 * gitops.c - `gitops status` (GET /v1/gitops as a short report),
 * `gitops sync [--retry]` (POST /v1/gitops/sync), and `manifest sign`,
 * which writes the signature files of the GitOps layout beside a manifest
 * (M.yaml.sig, and M.yaml.key_id with --key-id) without a server: what CI
 * runs before it commits the manifest (docs/ci.md).
 */
#include "cmd.h"

#include "domain/manifest.h"
#include "sign.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "-";
}

int cmd_gitops_status(struct client *c, const struct args *a)
{
	struct resp r;
	json_t *err, *o;
	size_t i;
	int rc = client_json(c, "GET", "/v1/gitops", NULL, &r);

	if (rc || c->json_out)
		return rc ? rc : cmd_done(c, &r, NULL);
	printf("repo:     %s (branch %s, path %s)\n", str(r.json, "repo"), str(r.json, "branch"),
	       str(r.json, "path"));
	printf("state:    %s\n", str(r.json, "state"));
	printf("fetched:  %s at %s\n", str(r.json, "fetched_commit"), str(r.json, "fetched_at"));
	printf("applied:  %s at %s\n", str(r.json, "applied_commit"), str(r.json, "applied_at"));
	if (json_is_string(json_object_get(r.json, "unreachable_since")))
		printf("remote unreachable since %s\n", str(r.json, "unreachable_since"));
	err = json_object_get(r.json, "last_error");
	if (json_is_object(err))
		printf("error:    %s%s%s:%lld: %s (commit %s)\n", str(err, "file"), "", "",
		       (long long)json_integer_value(json_object_get(err, "line")),
		       str(err, "reason"), str(err, "commit"));
	if (json_array_size(json_object_get(r.json, "objects"))) {
		struct table t;
		table_init(&t, 5, "KIND", "NAME", "STATE", "HEALTH", "FILE");
		json_array_foreach(json_object_get(r.json, "objects"), i, o)
			table_row(&t, str(o, "kind"), str(o, "name"), str(o, "state"),
				  str(o, "health"), str(o, "file"));
		table_print(&t);
	}
	resp_free(&r);
	return 0;
}

int cmd_gitops_sync(struct client *c, const struct args *a)
{
	struct resp r;
	int rc = client_json(c, "POST", arg_has(a, "--retry") ? "/v1/gitops/sync?retry=true"
							      : "/v1/gitops/sync",
			     NULL, &r);

	return rc ? rc : cmd_done(c, &r, "sync requested");
}

static int write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fprintf(f, "%s\n", text) < 0 || fclose(f) != 0) {
		fprintf(stderr, "rampctl: cannot write %s: %s\n", path, strerror(errno));
		if (f)
			fclose(f);
		return EXIT_LOCAL;
	}
	return 0;
}

int cmd_manifest_sign(const struct args *a)
{
	const char *key = arg_get(a, "--key", NULL), *id = arg_get(a, "--key-id", NULL);
	const char *file = a->pos[0] ? a->pos[0] : arg_get(a, "-f", "--file");
	char why[256], path[4200], *text, *sig;
	struct manifest m;
	struct ramp_err err;
	size_t len = 0;
	int rc;

	if (file == NULL || key == NULL)
		return usage_error("manifest sign needs M.yaml and --key PRIVATE.pem");
	if ((text = read_file(file, &len)) == NULL) {
		fprintf(stderr, "rampctl: cannot read %s: %s\n", file, strerror(errno));
		return EXIT_LOCAL;
	}
	ramp_err_clear(&err);
	if (manifest_parse(text, len, &m, &err) != 0) { /* sign only what rampd accepts */
		fprintf(stderr, "rampctl: %s: %s%s%s\n", file, err.field, err.field[0] ? ": " : "",
			err.msg);
		free(text);
		return EXIT_LOCAL;
	}
	manifest_free(&m);
	sig = sign_base64(key, text, len, why, sizeof(why));
	free(text);
	if (sig == NULL) {
		fprintf(stderr, "rampctl: %s\n", why);
		return EXIT_LOCAL;
	}
	snprintf(path, sizeof(path), "%s.sig", file);
	rc = write_text(path, sig);
	free(sig);
	if (rc == 0 && id) {
		snprintf(path, sizeof(path), "%s.key_id", file);
		rc = write_text(path, id);
	}
	if (rc == 0)
		printf("signed %s: %s.sig%s\n", file, file, id ? " and .key_id" : "");
	return rc;
}
