/*
 * tuf.c - rampctl's TUF steps (docs/tuf.md). On the operator's machine,
 * in a directory of its own (--dir, default ./tuf): `tuf init` makes the
 * offline root keys (a threshold of them) and the targets key, signs
 * 1.root.json naming rampd's online snapshot and timestamp keys, and an
 * empty top-level targets; `tuf delegate` hands a model's paths to a CI
 * key (a new key there rotates or revokes the old one); `tuf rotate-root`
 * signs N+1.root.json with the old and the new root keys, optionally
 * with fresh root keys or fresh online keys. In CI: `tuf keygen` and
 * `tuf sign-manifest`, which adds a manifest's variants as targets of the
 * delegated role and uploads the role signed with the CI key.
 */
#include "cmd.h"

#include "domain/manifest.h"
#include "domain/tuf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DAY 86400

static int local_error(const char *what, const char *path)
{
	fprintf(stderr, "rampctl: %s %s: %s\n", what, path, strerror(errno));
	return EXIT_LOCAL;
}

static int write_text(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	size_t n = strlen(text);
	bool ok;

	if (fd < 0)
		return local_error("cannot write", path);
	ok = write(fd, text, n) == (ssize_t)n;
	if (close(fd) != 0 || !ok)
		return local_error("cannot write", path);
	return 0;
}

static int write_doc(const char *dir, const char *name, const json_t *doc)
{
	char path[1200], *s = json_dumps(doc, JSON_INDENT(1) | JSON_SORT_KEYS);
	int rc;

	if (s == NULL)
		return EXIT_LOCAL;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	rc = write_text(path, s, 0644);
	free(s);
	return rc;
}

static json_t *read_doc(const char *dir, const char *name)
{
	char path[1200];
	json_t *doc;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	doc = json_load_file(path, JSON_REJECT_DUPLICATES, NULL);
	if (doc == NULL)
		fprintf(stderr, "rampctl: cannot read %s (run rampctl tuf init first)\n", path);
	return doc;
}

/* A new key saved as dir/keys/<name>.pem (0600); *pub its key object. */
static int new_key(const char *dir, const char *name, json_t **pub, char id[65])
{
	char path[1200], *pem;
	int rc;

	if (tuf_key_generate(&pem, pub) != 0 || tuf_keyid(*pub, id) != 0) {
		fprintf(stderr, "rampctl: cannot make an ed25519 key\n");
		return EXIT_LOCAL;
	}
	snprintf(path, sizeof(path), "%s/keys/%s.pem", dir, name);
	rc = write_text(path, pem, 0600);
	free(pem);
	return rc;
}

static json_t *role_json(json_t *keyids, int threshold)
{
	return json_pack("{s:o, s:i}", "keyids", keyids, "threshold", threshold);
}

static void expiry(const struct args *a, int days, char out[21])
{
	const char *d = arg_get(a, "--expires-days", NULL);

	tuf_time_format((int64_t)time(NULL) + (int64_t)(d ? atoi(d) : days) * DAY, out);
}

/* Signs doc with every dir/keys/<prefix>*.pem whose key role lists. */
static int sign_with_dir(json_t *doc, const char *kdir, const char *prefix, const json_t *role)
{
	DIR *d = opendir(kdir);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return local_error("cannot read", kdir);
	while ((e = readdir(d)) != NULL) {
		char path[1200], id[65], *pem;
		json_t *pub;
		size_t i;
		json_t *v;

		if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 ||
		    strstr(e->d_name, ".pem") == NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%s", kdir, e->d_name);
		if ((pem = read_file(path, NULL)) == NULL)
			continue;
		pub = tuf_key_public(pem);
		if (pub && tuf_keyid(pub, id) == 0)
			json_array_foreach(json_object_get(role, "keyids"), i, v)
				if (!strcmp(json_string_value(v), id) && tuf_sign(doc, pem, NULL) == 0)
					n++;
		json_decref(pub);
		free(pem);
	}
	closedir(d);
	return n;
}

static int upload(struct client *c, const char *role, const json_t *doc)
{
	char path[128], *s = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	struct resp r;
	int rc;

	if (s == NULL)
		return EXIT_LOCAL;
	snprintf(path, sizeof(path), "/v1/tuf/roles/%s", role);
	rc = client_call(c, "PUT", path, "application/json", s, strlen(s), &r);
	free(s);
	if (rc)
		return rc;
	if (r.status / 100 != 2) {
		rc = client_problem(c, &r);
		resp_free(&r);
		return rc;
	}
	resp_free(&r);
	return 0;
}

static json_t *envelope(json_t *signed_)
{
	return json_pack("{s:o, s:[]}", "signed", signed_, "signatures");
}

static int put_targets(struct client *c, const char *dir, json_t *signed_)
{
	json_t *doc = envelope(signed_), *root = read_doc(dir, "root.json");
	char kdir[1100];
	int rc = EXIT_LOCAL;

	snprintf(kdir, sizeof(kdir), "%s/keys", dir);
	if (root && sign_with_dir(doc, kdir, "targets", tuf_root_role(root, "targets")) > 0)
		rc = upload(c, "targets", doc);
	else if (root)
		fprintf(stderr, "rampctl: no key in %s signs the targets role\n", kdir);
	if (rc == 0)
		rc = write_doc(dir, "targets.json", doc);
	json_decref(doc);
	json_decref(root);
	return rc;
}

static int put_root(struct client *c, const char *dir, json_t *doc, const json_t *old)
{
	char kdir[1100], name[64];
	const json_t *role = tuf_root_role(doc, "root");
	int rc;

	snprintf(kdir, sizeof(kdir), "%s/keys", dir);
	if (old)
		sign_with_dir(doc, kdir, "root", tuf_root_role(old, "root"));
	sign_with_dir(doc, kdir, "root", role);
	rc = upload(c, "root", doc);
	snprintf(name, sizeof(name), "%lld.root.json", (long long)tuf_version(doc));
	if (rc == 0)
		rc = write_doc(dir, name, doc);
	if (rc == 0)
		rc = write_doc(dir, "root.json", doc);
	return rc;
}

/* The online keys rampd holds: adds them to keys, their ids to two arrays. */
static int online_keys(struct client *c, json_t *keys, json_t **snap, json_t **ts)
{
	struct resp r;
	const char *id;
	json_t *k;
	int rc = client_json(c, "GET", "/v1/tuf/online-keys", NULL, &r);

	if (rc)
		return rc;
	*snap = json_array();
	*ts = json_array();
	json_object_foreach(json_object_get(r.json, "snapshot"), id, k) {
		json_object_set(keys, id, k);
		json_array_append_new(*snap, json_string(id));
	}
	json_object_foreach(json_object_get(r.json, "timestamp"), id, k) {
		json_object_set(keys, id, k);
		json_array_append_new(*ts, json_string(id));
	}
	resp_free(&r);
	return 0;
}

static int cmd_tuf_init(struct client *c, const struct args *a, const char *dir)
{
	const char *nk = arg_get(a, "--root-keys", NULL), *th = arg_get(a, "--threshold", NULL);
	int n = nk ? atoi(nk) : 1, t = th ? atoi(th) : 1, rc;
	json_t *keys = json_object(), *rootids = json_array(), *snap = NULL, *ts = NULL, *pub, *root;
	char kdir[1100], id[65], name[32], exp[21];

	if (n < 1 || n > 16 || t < 1 || t > n)
		return usage_error("tuf init: --root-keys 1..16 and --threshold 1..root-keys");
	snprintf(kdir, sizeof(kdir), "%s/keys", dir);
	if ((mkdir(dir, 0755) && errno != EEXIST) || (mkdir(kdir, 0700) && errno != EEXIST))
		return local_error("cannot make", kdir);
	if ((rc = online_keys(c, keys, &snap, &ts)) != 0)
		return rc;
	for (int i = 1; i <= n && rc == 0; i++) {
		snprintf(name, sizeof(name), "root-%d", i);
		if ((rc = new_key(dir, name, &pub, id)) == 0) {
			json_object_set_new(keys, id, pub);
			json_array_append_new(rootids, json_string(id));
		}
	}
	if (rc == 0 && (rc = new_key(dir, "targets", &pub, id)) == 0)
		json_object_set_new(keys, id, pub);
	if (rc)
		return rc;
	expiry(a, 365, exp);
	root = json_pack("{s:s, s:s, s:i, s:s, s:b, s:o, s:{s:o, s:o, s:o, s:o}}", "_type", "root",
			 "spec_version", TUF_SPEC_VERSION, "version", 1, "expires", exp,
			 "consistent_snapshot", 1, "keys", keys, "roles", "root",
			 role_json(rootids, t), "targets", role_json(json_pack("[s]", id), 1),
			 "snapshot", role_json(snap, 1), "timestamp", role_json(ts, 1));
	root = envelope(root);
	rc = put_root(c, dir, root, NULL);
	json_decref(root);
	if (rc)
		return rc;
	expiry(a, 365, exp);
	rc = put_targets(c, dir,
			 json_pack("{s:s, s:s, s:i, s:s, s:{}, s:{s:{}, s:[]}}", "_type", "targets",
				   "spec_version", TUF_SPEC_VERSION, "version", 1, "expires", exp,
				   "targets", "delegations", "keys", "roles"));
	if (rc == 0)
		printf("tuf repository initialised: %d root key(s), threshold %d, in %s\n", n, t,
		       dir);
	return rc;
}

/* The key object of --key: a private PEM, or a public key object (JSON). */
static json_t *key_arg(const char *file)
{
	char *text = read_file(file, NULL);
	json_t *k = NULL;

	if (text == NULL)
		return NULL;
	k = strstr(text, "PRIVATE KEY") ? tuf_key_public(text) : json_loads(text, 0, NULL);
	free(text);
	return k;
}

static int cmd_tuf_delegate(struct client *c, const struct args *a, const char *dir)
{
	const char *role = a->pos[0], *keyf = arg_get(a, "--key", NULL),
		   *paths = arg_get(a, "--paths", NULL);
	json_t *doc, *s, *d, *roles, *key, *r, *kept, *oldkeys;
	char id[65], exp[21];
	size_t i;

	if (role == NULL || keyf == NULL || paths == NULL)
		return usage_error("tuf delegate needs ROLE --key CI.pub.json --paths PATTERN");
	if ((key = key_arg(keyf)) == NULL || tuf_keyid(key, id) != 0) {
		json_decref(key);
		return local_error("cannot read a key from", keyf);
	}
	if ((doc = read_doc(dir, "targets.json")) == NULL) {
		json_decref(key);
		return EXIT_LOCAL;
	}
	s = json_deep_copy(tuf_signed(doc));
	json_decref(doc);
	d = json_object_get(s, "delegations");
	roles = json_object_get(d, "roles");
	kept = json_array();
	json_array_foreach(roles, i, r)
		if (strcmp(json_string_value(json_object_get(r, "name")), role) != 0)
			json_array_append(kept, r);
	json_array_append_new(kept, json_pack("{s:s, s:[s], s:i, s:b, s:[s]}", "name", role,
					      "keyids", id, "threshold", 1, "terminating", 1,
					      "paths", paths));
	json_object_set_new(d, "roles", kept);
	/* keys no role names any more are dropped: a replaced key is revoked */
	oldkeys = json_incref(json_object_get(d, "keys"));
	json_object_set_new(d, "keys", json_object());
	json_array_foreach(kept, i, r) {
		size_t j;
		json_t *kid, *k;

		json_array_foreach(json_object_get(r, "keyids"), j, kid)
			if ((k = json_object_get(oldkeys, json_string_value(kid))) != NULL)
				json_object_set(json_object_get(d, "keys"), json_string_value(kid), k);
	}
	json_decref(oldkeys);
	json_object_set_new(json_object_get(d, "keys"), id, key);
	expiry(a, 365, exp);
	json_object_set_new(s, "expires", json_string(exp));
	json_object_set_new(s, "version", json_integer(json_integer_value(
						   json_object_get(s, "version")) + 1));
	if (put_targets(c, dir, s) != 0)
		return EXIT_REFUSED;
	printf("%s delegated to key %s for %s\n", role, id, paths);
	return 0;
}

/* Drops keys that no top-level role lists any more (a rotated-out key). */
static void drop_unlisted(json_t *s)
{
	json_t *keys = json_object_get(s, "keys"), *kept = json_object(), *role, *v;
	const char *name;
	size_t i;

	json_object_foreach(json_object_get(s, "roles"), name, role)
		json_array_foreach(json_object_get(role, "keyids"), i, v)
			if (json_object_get(keys, json_string_value(v)))
				json_object_set(kept, json_string_value(v),
						json_object_get(keys, json_string_value(v)));
	json_object_set_new(s, "keys", kept);
}

static int rotate_online(struct client *c, json_t *s, const char *role)
{
	char path[64];
	struct resp r;
	int rc;

	snprintf(path, sizeof(path), "/v1/tuf/online-keys/%s", role);
	if ((rc = client_json(c, "POST", path, NULL, &r)) != 0)
		return rc;
	json_object_set(json_object_get(s, "keys"),
			json_string_value(json_object_get(r.json, "keyid")),
			json_object_get(r.json, "key"));
	json_object_set_new(json_object_get(s, "roles"), role,
			    role_json(json_pack("[O]", json_object_get(r.json, "keyid")), 1));
	resp_free(&r);
	return 0;
}

static int cmd_tuf_rotate_root(struct client *c, const struct args *a, const char *dir)
{
	const char *nk = arg_get(a, "--root-keys", NULL), *th = arg_get(a, "--threshold", NULL);
	json_t *old = read_doc(dir, "root.json"), *s, *ids, *pub, *doc;
	char exp[21], name[64], id[65];
	int64_t v;
	int rc = 0;

	if (old == NULL)
		return EXIT_LOCAL;
	s = json_deep_copy(tuf_signed(old));
	v = tuf_version(old) + 1;
	json_object_set_new(s, "version", json_integer(v));
	expiry(a, 365, exp);
	json_object_set_new(s, "expires", json_string(exp));
	if (nk) {
		int n = atoi(nk), t = th ? atoi(th) : 1;

		if (n < 1 || n > 16 || t < 1 || t > n)
			rc = usage_error("tuf rotate-root: --root-keys 1..16, --threshold 1..root-keys");
		ids = json_array();
		for (int i = 1; i <= n && rc == 0; i++) {
			snprintf(name, sizeof(name), "root-v%lld-%d", (long long)v, i);
			if ((rc = new_key(dir, name, &pub, id)) == 0) {
				json_object_set_new(json_object_get(s, "keys"), id, pub);
				json_array_append_new(ids, json_string(id));
			}
		}
		json_object_set_new(json_object_get(s, "roles"), "root", role_json(ids, t));
	}
	if (rc == 0 && arg_has(a, "--rotate-online"))
		rc = rotate_online(c, s, "snapshot");
	if (rc == 0 && arg_has(a, "--rotate-online"))
		rc = rotate_online(c, s, "timestamp");
	drop_unlisted(s);
	doc = envelope(s);
	if (rc == 0)
		rc = put_root(c, dir, doc, old);
	if (rc == 0)
		printf("root version %lld signed and uploaded\n", (long long)v);
	json_decref(doc);
	json_decref(old);
	return rc;
}

static int cmd_tuf_keygen(const struct args *a)
{
	const char *out = arg_get(a, "--out", NULL);
	char path[1100], id[65], *pem, *pubs;
	json_t *pub;
	int rc;

	if (out == NULL)
		return usage_error("tuf keygen needs --out FILE.pem");
	if (tuf_key_generate(&pem, &pub) != 0 || tuf_keyid(pub, id) != 0)
		return EXIT_LOCAL;
	rc = write_text(out, pem, 0600);
	pubs = json_dumps(pub, JSON_COMPACT | JSON_SORT_KEYS);
	snprintf(path, sizeof(path), "%.*s.pub.json",
		 (int)(strlen(out) > 4 && !strcmp(out + strlen(out) - 4, ".pem") ? strlen(out) - 4
										  : strlen(out)),
		 out);
	if (rc == 0)
		rc = write_text(path, pubs, 0644);
	if (rc == 0)
		printf("%s\n", id);
	free(pem);
	free(pubs);
	json_decref(pub);
	return rc;
}

/* The role's current targets when its document verifies by key (CI's
 * own earlier work); an empty object otherwise. *version its version. */
static json_t *current_targets(struct client *c, const char *role, const json_t *key,
			       const char *id, int64_t *version)
{
	struct resp r;
	char path[160], file[80];
	json_t *out = json_object(), *keys, *rl;
	int64_t sv;

	*version = 0;
	if (client_json(c, "GET", "/v1/tuf/metadata/timestamp.json", NULL, &r) != 0)
		return out;
	sv = json_integer_value(json_object_get(json_object_get(json_object_get(
		tuf_signed(r.json), "meta"), "snapshot.json"), "version"));
	resp_free(&r);
	snprintf(path, sizeof(path), "/v1/tuf/metadata/%lld.snapshot.json", (long long)sv);
	if (client_json(c, "GET", path, NULL, &r) != 0)
		return out;
	snprintf(file, sizeof(file), "%s.json", role);
	*version = json_integer_value(json_object_get(json_object_get(json_object_get(
		tuf_signed(r.json), "meta"), file), "version"));
	resp_free(&r);
	if (*version == 0)
		return out;
	snprintf(path, sizeof(path), "/v1/tuf/metadata/%lld.%s.json", (long long)*version, role);
	if (client_json(c, "GET", path, NULL, &r) != 0)
		return out;
	keys = json_pack("{s:O}", id, key);
	rl = json_pack("{s:[s], s:i}", "keyids", id, "threshold", 1);
	if (tuf_verify_role(r.json, keys, rl, role, NULL) == 0)
		json_object_update(out, json_object_get(tuf_signed(r.json), "targets"));
	json_decref(keys);
	json_decref(rl);
	resp_free(&r);
	return out;
}

/* Adds each variant of manifest text as a target (docs/tuf.md). */
static int add_variants(json_t *targets, const char *text, size_t len, const char *adir)
{
	struct manifest m;
	struct ramp_err err;

	if (manifest_parse(text, len, &m, &err) != 0) {
		fprintf(stderr, "rampctl: manifest: %s: %s\n", err.field, err.msg);
		return EXIT_LOCAL;
	}
	for (size_t i = 0; i < m.nvariants; i++) {
		const struct manifest_variant *v = &m.variants[i];
		char path[700], file[1400];
		int64_t size = v->size;
		struct stat st;

		snprintf(file, sizeof(file), "%s/%s", adir ? adir : ".", v->file);
		if (size < 0 && adir && stat(file, &st) == 0)
			size = st.st_size;
		if (size < 0) {
			fprintf(stderr, "rampctl: variant %s has no size: add size: or --artifacts DIR\n",
				v->platform);
			manifest_free(&m);
			return EXIT_LOCAL;
		}
		snprintf(path, sizeof(path), "%s/%s/%s/%s", m.name, m.version, v->platform, v->file);
		json_object_set_new(targets, path,
				    json_pack("{s:I, s:{s:s}, s:{s:s, s:s, s:s}}", "length",
					      (json_int_t)size, "hashes", "sha256", v->digest + 7,
					      "custom", "model", m.name, "version", m.version,
					      "platform", v->platform));
	}
	manifest_free(&m);
	return 0;
}

static int cmd_tuf_sign_manifest(struct client *c, const struct args *a)
{
	const char *role = a->pos[0], *mf = arg_get(a, "-f", "--file"),
		   *keyf = arg_get(a, "--key", NULL), *adir = arg_get(a, "--artifacts", NULL);
	char *pem = NULL, *text = NULL, id[65], exp[21];
	json_t *pub = NULL, *targets = NULL, *doc = NULL;
	int64_t v;
	size_t len;
	int rc = EXIT_LOCAL;

	if (role == NULL || mf == NULL || keyf == NULL)
		return usage_error("tuf sign-manifest needs ROLE -f MANIFEST --key CI.pem");
	if ((pem = read_file(keyf, NULL)) == NULL || (pub = tuf_key_public(pem)) == NULL ||
	    tuf_keyid(pub, id) != 0) {
		fprintf(stderr, "rampctl: %s is not an ed25519 private key\n", keyf);
		goto out;
	}
	if ((text = read_file(mf, &len)) == NULL) {
		rc = local_error("cannot read", mf);
		goto out;
	}
	targets = current_targets(c, role, pub, id, &v);
	if ((rc = add_variants(targets, text, len, adir)) != 0)
		goto out;
	expiry(a, 365, exp);
	doc = envelope(json_pack("{s:s, s:s, s:I, s:s, s:O}", "_type", "targets", "spec_version",
				 TUF_SPEC_VERSION, "version", (json_int_t)(v + 1), "expires", exp,
				 "targets", targets));
	rc = tuf_sign(doc, pem, NULL) ? EXIT_LOCAL : upload(c, role, doc);
	if (rc == 0)
		printf("%s version %lld signed by %s and uploaded\n", role, (long long)(v + 1), id);
out:
	free(pem);
	free(text);
	json_decref(pub);
	json_decref(targets);
	json_decref(doc);
	return rc;
}

int cmd_tuf(struct client *c, const char *verb, const struct args *a)
{
	const char *dir = arg_get(a, "--dir", NULL);

	if (dir == NULL)
		dir = "tuf";
	if (verb && !strcmp(verb, "init"))
		return cmd_tuf_init(c, a, dir);
	if (verb && !strcmp(verb, "delegate"))
		return cmd_tuf_delegate(c, a, dir);
	if (verb && !strcmp(verb, "rotate-root"))
		return cmd_tuf_rotate_root(c, a, dir);
	if (verb && !strcmp(verb, "keygen"))
		return cmd_tuf_keygen(a);
	if (verb && !strcmp(verb, "sign-manifest"))
		return cmd_tuf_sign_manifest(c, a);
	return usage_error("tuf needs one of: init delegate rotate-root keygen sign-manifest");
}
