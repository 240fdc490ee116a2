/*
 * publish.c - what CI runs to publish a model: `key add` (the public key
 * manifests are verified with) and `manifest post|push`, which signs the
 * manifest locally when given a private key (sign.c) and first uploads the
 * artifacts it names from a directory, so one command ships a version.
 */
#include "cmd.h"

#include "domain/manifest.h"
#include "sign.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_key_add(struct client *c, const struct args *a)
{
	const char *file = arg_get(a, "-f", "--file");
	char path[256], msg[300], *pem;
	json_t *body;
	struct resp r;
	int rc;

	if (a->pos[0] == NULL || file == NULL)
		return usage_error("key add needs KEY_ID and -f PUBLIC.pem");
	if ((pem = read_file(file, NULL)) == NULL) {
		fprintf(stderr, "rampctl: cannot read %s: %s\n", file, strerror(errno));
		return EXIT_LOCAL;
	}
	snprintf(path, sizeof(path), "/v1/keys/%s", a->pos[0]);
	body = json_pack("{s:s}", "public_key", pem);
	free(pem);
	rc = client_json(c, "PUT", path, body, &r);
	json_decref(body);
	if (rc)
		return rc;
	snprintf(msg, sizeof(msg), "key %s stored", a->pos[0]);
	return cmd_done(c, &r, msg);
}

/* PUTs each variant's file found in dir to /v1/artifacts/<digest>. */
static int upload_artifacts(struct client *c, const char *text, size_t len, const char *dir)
{
	struct manifest m;
	struct ramp_err err;
	int rc = 0;

	ramp_err_clear(&err);
	if (manifest_parse(text, len, &m, &err) != 0) {
		fprintf(stderr, "rampctl: manifest: %s%s%s\n", err.field, err.field[0] ? ": " : "",
			err.msg);
		return EXIT_LOCAL;
	}
	for (size_t i = 0; i < m.nvariants && rc == 0; i++) {
		char file[1400], path[128];
		struct resp r;
		snprintf(file, sizeof(file), "%s/%s", dir, m.variants[i].file);
		snprintf(path, sizeof(path), "/v1/artifacts/%s", m.variants[i].digest);
		if ((rc = client_put_file(c, path, file, &r)) != 0)
			break;
		if (r.status != 200 && r.status != 201)
			rc = client_problem(c, &r);
		else if (!c->json_out)
			printf("artifact %s %s (%s)\n", m.variants[i].file,
			       r.status == 201 ? "uploaded" : "already stored", m.variants[i].digest);
		resp_free(&r);
	}
	manifest_free(&m);
	return rc;
}

/* The key id: --key-id, else the key file's name without its extension. */
static void key_id_of(const struct args *a, const char *key, char *out, size_t cap)
{
	const char *id = arg_get(a, "--key-id", NULL), *b, *dot;

	if (id || key == NULL) {
		snprintf(out, cap, "%s", id ? id : "");
		return;
	}
	b = strrchr(key, '/');
	b = b ? b + 1 : key;
	dot = strrchr(b, '.');
	snprintf(out, cap, "%.*s", dot ? (int)(dot - b) : (int)strlen(b), b);
}

int cmd_manifest_post(struct client *c, const struct args *a)
{
	const char *file = arg_get(a, "--file", "-f"), *sigf = arg_get(a, "--signature", NULL);
	const char *key = arg_get(a, "--key", NULL), *dir = arg_get(a, "--artifacts", NULL);
	char kid[128], why[256], msg[300], *text, *sig = NULL;
	struct resp r;
	json_t *body;
	size_t len;
	int rc;

	if (file == NULL && a->npos > 0)
		file = a->pos[0];
	key_id_of(a, key, kid, sizeof(kid));
	if (file == NULL || (sigf == NULL) == (key == NULL) || kid[0] == '\0')
		return usage_error("manifest post needs --file, one of --signature or --key, and --key-id");
	if ((text = read_file(file, &len)) == NULL) {
		fprintf(stderr, "rampctl: cannot read %s: %s\n", file, strerror(errno));
		return EXIT_LOCAL;
	}
	if (sigf && (sig = read_file(sigf, NULL)) == NULL)
		snprintf(why, sizeof(why), "cannot read %s: %s", sigf, strerror(errno));
	else if (key)
		sig = sign_base64(key, text, len, why, sizeof(why));
	if (sig == NULL) {
		fprintf(stderr, "rampctl: %s\n", why);
		free(text);
		return EXIT_LOCAL;
	}
	sig[strcspn(sig, "\r\n")] = '\0';
	rc = dir ? upload_artifacts(c, text, len, dir) : 0;
	body = rc ? NULL : json_pack("{s:s%, s:s, s:s}", "manifest", text, len, "signature", sig,
				     "key_id", kid);
	free(text);
	free(sig);
	if (rc)
		return rc;
	rc = client_json(c, "POST", "/v1/manifests", body, &r);
	json_decref(body);
	if (rc)
		return rc;
	snprintf(msg, sizeof(msg), "manifest %s %s %s",
		 json_string_value(json_object_get(r.json, "model")),
		 json_string_value(json_object_get(r.json, "version")),
		 r.status == 201 ? "stored" : "already stored (same bytes)");
	return cmd_done(c, &r, msg);
}
