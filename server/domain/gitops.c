/*
 * gitops.c - one commit's files into the fleet's intended state (layout in
 * gitops.h and docs/gitops.md). Pure: the reconciler (engine/gitops.c)
 * reads the blobs from the Git tree and hands them here; nothing is read
 * from disk. The first error stops the parse: a commit is applied whole or
 * not at all, so one reason is all the status needs.
 */
#include "domain/gitops.h"

#include "domain/fields.h"
#include "domain/selector.h"
#include "domain/sig.h"
#include "domain/yamltree.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(struct gitops_err *err, int code, const char *file, int line, const char *fmt,
		...) __attribute__((format(printf, 5, 6)));

static int fail(struct gitops_err *err, int code, const char *file, int line, const char *fmt,
		...)
{
	va_list ap;

	snprintf(err->file, sizeof(err->file), "%s", file ? file : "");
	err->line = line;
	va_start(ap, fmt);
	vsnprintf(err->reason, sizeof(err->reason), fmt, ap);
	va_end(ap);
	return code;
}

/* A parser's ramp_err as the file's error, with the field's line. */
static int fail_parse(struct gitops_err *err, int code, const struct gitops_file *f,
		      const struct ramp_err *pe)
{
	const char *l = strstr(pe->msg, "at line ");
	int line = l ? atoi(l + 8) : gitops_line_of(f->data, f->len, pe->field);

	if (code == RAMP_ENOMEM)
		return fail(err, code, f->path, 0, "out of memory");
	if (pe->field[0])
		return fail(err, RAMP_EINVAL, f->path, line, "%s: %s", pe->field, pe->msg);
	return fail(err, RAMP_EINVAL, f->path, line, "%s", pe->msg[0] ? pe->msg : "invalid");
}

int gitops_entry_check(const char *path, unsigned mode, size_t size, struct gitops_err *err)
{
	size_t n = strlen(path);
	const char *c = path;

	if (n == 0 || n > GITOPS_MAX_PATH)
		return fail(err, RAMP_EINVAL, path, 0, "path is empty or longer than %d bytes",
			    GITOPS_MAX_PATH);
	for (size_t i = 0; i < n; i++)
		if (!isprint((unsigned char)path[i]) || path[i] == '\\')
			return fail(err, RAMP_EINVAL, path, 0,
				    "path holds a control character or a backslash");
	while (*c) {
		size_t k = strcspn(c, "/");
		if (k == 0 || (k == 1 && c[0] == '.') || (k == 2 && c[0] == '.' && c[1] == '.'))
			return fail(err, RAMP_EINVAL, path, 0,
				    "path component is empty, \".\" or \"..\" (refused)");
		c += k;
		if (*c == '/')
			c++;
	}
	if (mode == GITOPS_MODE_LINK)
		return fail(err, RAMP_EINVAL, path, 0, "symbolic links are refused");
	if (mode == GITOPS_MODE_COMMIT)
		return fail(err, RAMP_EINVAL, path, 0, "submodules are refused");
	if (mode != GITOPS_MODE_BLOB && mode != GITOPS_MODE_EXEC)
		return fail(err, RAMP_EINVAL, path, 0, "not a regular file (mode %o)", mode);
	if (size > GITOPS_MAX_FILE_BYTES)
		return fail(err, RAMP_ETOOBIG, path, 0, "file is larger than %d bytes",
			    GITOPS_MAX_FILE_BYTES);
	return 0;
}

/* "dir/<stem><suffix>" with one component after dir: the stem in the arena. */
static const char *stem(struct arena *a, const char *path, const char *dir, const char *suffix)
{
	size_t dl = strlen(dir), sl = strlen(suffix), n = strlen(path);

	if (n <= dl + sl || strncmp(path, dir, dl) != 0 || strcmp(path + n - sl, suffix) != 0 ||
	    memchr(path + dl, '/', n - dl - sl))
		return NULL;
	return arena_strndup(a, path + dl, n - dl - sl);
}

static const struct gitops_file *find(const struct gitops_file *f, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(f[i].path, path) == 0)
			return &f[i];
	return NULL;
}

static const char *trimmed(struct arena *a, const char *s, size_t n)
{
	while (n && isspace((unsigned char)*s))
		s++, n--;
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	return arena_strndup(a, s, n);
}

static int parse_key(struct gitops_state *st, const struct gitops_file *f, const char *id,
		     struct gitops_err *err)
{
	struct ramp_err pe;
	struct gitops_key *k = &st->keys[st->nkeys];

	ramp_err_clear(&pe);
	if (!manifest_name_valid(id))
		return fail(err, RAMP_EINVAL, f->path, 0,
			    "key ids match [a-z0-9][a-z0-9._-]{0,62}");
	if (sig_key_check(f->data, f->len, NULL, NULL, &pe) != 0)
		return fail(err, RAMP_EINVAL, f->path, 1, "%s", pe.msg);
	k->id = id;
	k->pem = arena_strndup(st->arena, f->data, f->len);
	k->file = f->path;
	if (k->pem == NULL)
		return fail(err, RAMP_ENOMEM, f->path, 0, "out of memory");
	st->nkeys++;
	return 0;
}

static const char *repo_key(const struct gitops_state *st, const char *id)
{
	for (size_t i = 0; i < st->nkeys; i++)
		if (strcmp(st->keys[i].id, id) == 0)
			return st->keys[i].pem;
	return NULL;
}

/* Verifies gm's signature with key_id (when given) or with the first
 * repository key that verifies it. */
static int verify_manifest(const struct gitops_state *st, const struct gitops_lookup *lk,
			   struct gitops_manifest *gm, const char *key_id, const char *sigpath,
			   struct gitops_err *err)
{
	struct ramp_err pe;
	const char *pem;

	ramp_err_clear(&pe);
	if (key_id) {
		pem = repo_key(st, key_id);
		if (pem == NULL && lk && lk->key_pem)
			pem = lk->key_pem(lk->ctx, key_id);
		if (pem == NULL)
			return fail(err, RAMP_EINVAL, gm->file, 0, "unknown signing key %s", key_id);
		if (sig_verify(pem, strlen(pem), gm->text, gm->len, gm->sig, &pe) != 0)
			return fail(err, RAMP_EINVAL, gm->file, 0, "%s (key %s, %s)", pe.msg,
				    key_id, sigpath);
		gm->key_id = key_id;
		return 0;
	}
	for (size_t i = 0; i < st->nkeys; i++)
		if (sig_verify(st->keys[i].pem, strlen(st->keys[i].pem), gm->text, gm->len,
			       gm->sig, &pe) == 0) {
			gm->key_id = st->keys[i].id;
			return 0;
		}
	return fail(err, RAMP_EINVAL, gm->file, 0,
		    "signature does not verify with any key of keys/ (%s)", sigpath);
}

static int parse_manifest(struct gitops_state *st, const struct gitops_file *files, size_t n,
			  const struct gitops_file *f, const char *model, const char *version,
			  const struct gitops_lookup *lk, struct gitops_err *err)
{
	struct arena *a = st->arena;
	struct gitops_manifest *gm = &st->manifests[st->nmanifests];
	const char *sigpath = arena_printf(a, "%s.sig", f->path);
	const struct gitops_file *sf = find(files, n, sigpath);
	const struct gitops_file *kf = find(files, n, arena_printf(a, "%s.key_id", f->path));
	struct ramp_err pe;
	int rc;

	if (sigpath == NULL)
		return fail(err, RAMP_ENOMEM, f->path, 0, "out of memory");
	if (sf == NULL)
		return fail(err, RAMP_EINVAL, f->path, 0, "no signature beside it (%s)", sigpath);
	ramp_err_clear(&pe);
	rc = manifest_parse(f->data, f->len, &gm->m, &pe);
	if (rc)
		return fail_parse(err, rc, f, &pe);
	gm->file = f->path;
	gm->text = f->data;
	gm->len = f->len;
	st->nmanifests++; /* owned from here: freed with the state */
	if (strcmp(gm->m.name, model) != 0)
		return fail(err, RAMP_EINVAL, f->path, gitops_line_of(f->data, f->len, "model.name"),
			    "model.name is %s but the file is under models/%s/", gm->m.name,
			    model);
	if (strcmp(gm->m.version, version) != 0)
		return fail(err, RAMP_EINVAL, f->path,
			    gitops_line_of(f->data, f->len, "model.version"),
			    "model.version is %s but the file is named %s.yaml", gm->m.version,
			    version);
	gm->sig = trimmed(a, sf->data, sf->len);
	return verify_manifest(st, lk, gm, kf ? trimmed(a, kf->data, kf->len) : NULL, sigpath,
			       err);
}

static int parse_policy(struct gitops_state *st, const struct gitops_file *f, const char *name,
			struct gitops_err *err)
{
	struct gitops_policy *gp = &st->policies[st->npolicies];
	struct ramp_err pe;
	int rc;

	if (!policy_name_valid(name))
		return fail(err, RAMP_EINVAL, f->path, 0,
			    "policy names match [a-z0-9][a-z0-9._-]{0,62}");
	gp->p = malloc(sizeof(*gp->p));
	if (gp->p == NULL)
		return fail(err, RAMP_ENOMEM, f->path, 0, "out of memory");
	gp->name = name;
	gp->file = f->path;
	gp->source = arena_strndup(st->arena, f->data, f->len);
	st->npolicies++;
	if (gp->source == NULL)
		return fail(err, RAMP_ENOMEM, f->path, 0, "out of memory");
	ramp_err_clear(&pe);
	rc = policy_parse(f->data, f->len, POLICY_YAML, gp->p, &pe);
	return rc ? fail_parse(err, rc, f, &pe) : 0;
}

/* The document of f as a tree (plain scalars stay strings) into *t, its
 * root a mapping. 0, or the error's code with err. */
static int load_object(const struct gitops_file *f, struct yamltree *t, struct gitops_err *err)
{
	struct ramp_err pe;
	int rc;

	ramp_err_clear(&pe);
	rc = yamltree_parse(f->data, f->len, t, &pe);
	if (rc)
		return fail_parse(err, rc, f, &pe);
	if (!json_is_object(t->root)) {
		yamltree_free(t);
		return fail(err, RAMP_EINVAL, f->path, 1, "the document must be a mapping");
	}
	return 0;
}

/* A string member (YAML plain scalars stay text: "1.10" is not 1.1). */
static int string_member(const struct gitops_file *f, json_t *o, const char *key, bool required,
			 struct arena *a, const char **out, struct gitops_err *err)
{
	json_t *v = json_object_get(o, key);

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (required)
			return fail(err, RAMP_EINVAL, f->path, 0, "%s is required", key);
		return 0;
	}
	if (!json_is_string(v))
		return fail(err, RAMP_EINVAL, f->path, gitops_line_of(f->data, f->len, key),
			    "%s must be a string", key);
	*out = arena_strndup(a, json_string_value(v), json_string_length(v));
	return *out ? 0 : fail(err, RAMP_ENOMEM, f->path, 0, "out of memory");
}

static int check_selector(const struct gitops_file *f, const char *text, const char *field,
			  struct gitops_err *err)
{
	struct selector *sel = NULL;
	struct ramp_err pe;

	int rc;

	ramp_err_clear(&pe);
	if ((rc = selector_parse(text, &sel, &pe)) != 0)
		return fail(err, rc == RAMP_ENOMEM ? rc : RAMP_EINVAL, f->path,
			    gitops_line_of(f->data, f->len, field), "%s: %s", field, pe.msg);
	selector_free(sel);
	return 0;
}

static int parse_cohort(struct gitops_state *st, const struct gitops_file *f, const char *name,
			struct gitops_err *err)
{
	static const char *const allowed[] = {"selector", NULL};
	struct gitops_cohort *gc = &st->cohorts[st->ncohorts];
	struct yamltree t;
	struct ramp_err pe;
	json_t *o;
	int rc;

	if (!manifest_name_valid(name))
		return fail(err, RAMP_EINVAL, f->path, 0,
			    "cohort names match [a-z0-9][a-z0-9._-]{0,62}");
	if ((rc = load_object(f, &t, err)) != 0)
		return rc;
	o = t.root;
	ramp_err_clear(&pe);
	if (fields_check(o, allowed, NULL, &pe) != 0)
		rc = fail(err, RAMP_EINVAL, f->path, gitops_line_of(f->data, f->len, pe.field),
			  "%s: %s", pe.field, pe.msg);
	else
		rc = string_member(f, o, "selector", true, st->arena, &gc->selector, err);
	if (rc == 0)
		rc = check_selector(f, gc->selector, "selector", err);
	yamltree_free(&t);
	if (rc)
		return rc;
	gc->name = name;
	gc->file = f->path;
	st->ncohorts++;
	return 0;
}


/* The release's policy: a name (policies/ first, then ramp's) or inline. */
static int release_policy(struct gitops_state *st, const struct gitops_file *f,
			  struct yamltree *t, json_t *v, const struct gitops_lookup *lk,
			  struct gitops_release *r, struct gitops_err *err)
{
	struct ramp_err pe;
	json_t *typed;
	int rc;

	if (json_is_string(v)) {
		r->policy_name = arena_strdup(st->arena, json_string_value(v));
		for (size_t i = 0; i < st->npolicies; i++)
			if (strcmp(st->policies[i].name, r->policy_name) == 0) {
				r->policy = st->policies[i].p;
				return 0;
			}
		if ((r->policy = malloc(sizeof(*r->policy))) == NULL)
			return fail(err, RAMP_ENOMEM, f->path, 0, "out of memory");
		r->own_policy = true;
		if (lk && lk->policy_known && lk->policy_known(lk->ctx, r->policy_name, r->policy))
			return 0;
		return fail(err, RAMP_EINVAL, f->path, gitops_line_of(f->data, f->len, "policy"),
			    "no policy named %s in policies/ or in ramp", r->policy_name);
	}
	if (!json_is_object(v))
		return fail(err, RAMP_EINVAL, f->path, gitops_line_of(f->data, f->len, "policy"),
			    "policy must be a policy's name or an inline policy");
	if ((r->policy = malloc(sizeof(*r->policy))) == NULL)
		return fail(err, RAMP_ENOMEM, f->path, 0, "out of memory");
	r->own_policy = true;
	if ((typed = yamltree_resolve(t, v)) == NULL)
		return fail(err, RAMP_ENOMEM, f->path, 0, "out of memory");
	ramp_err_clear(&pe);
	rc = policy_from_json(typed, r->policy, &pe);
	json_decref(typed);
	if (rc) {
		char field[200];
		snprintf(field, sizeof(field), "policy%s%s", pe.field[0] ? "." : "", pe.field);
		snprintf(pe.field, sizeof(pe.field), "%.120s", field);
		return fail_parse(err, rc, f, &pe);
	}
	return 0;
}

static bool version_in(const struct gitops_state *st, const struct gitops_lookup *lk,
		       const char *model, const char *version)
{
	for (size_t i = 0; i < st->nmanifests; i++)
		if (strcmp(st->manifests[i].m.name, model) == 0 &&
		    strcmp(st->manifests[i].m.version, version) == 0)
			return true;
	return lk && lk->version_known && lk->version_known(lk->ctx, model, version);
}

static int release_fields(struct gitops_state *st, const struct gitops_file *f, json_t *o,
			  const struct gitops_lookup *lk, struct gitops_release *r,
			  struct gitops_err *err)
{
	static const char *const allowed[] = {"version", "policy", "selector", "stable", NULL};
	struct ramp_err pe;
	int rc;

	ramp_err_clear(&pe);
	if (fields_check(o, allowed, NULL, &pe) != 0)
		return fail(err, RAMP_EINVAL, f->path, gitops_line_of(f->data, f->len, pe.field),
			    "%s: %s", pe.field, pe.msg);
	if ((rc = string_member(f, o, "version", true, st->arena, &r->version, err)) ||
	    (rc = string_member(f, o, "stable", false, st->arena, &r->stable, err)) ||
	    (rc = string_member(f, o, "selector", false, st->arena, &r->selector, err)))
		return rc;
	if (r->selector == NULL)
		r->selector = "";
	else if ((rc = check_selector(f, r->selector, "selector", err)))
		return rc;
	if (!version_in(st, lk, r->model, r->version))
		return fail(err, RAMP_EINVAL, f->path, gitops_line_of(f->data, f->len, "version"),
			    "unknown version %s of model %s: no models/%s/%s.yaml and none in ramp",
			    r->version, r->model, r->model, r->version);
	if (r->stable && !version_in(st, lk, r->model, r->stable))
		return fail(err, RAMP_EINVAL, f->path, gitops_line_of(f->data, f->len, "stable"),
			    "unknown stable version %s of model %s", r->stable, r->model);
	if (json_object_get(o, "policy") == NULL)
		return fail(err, RAMP_EINVAL, f->path, 0, "policy is required");
	return 0;
}

static int parse_release(struct gitops_state *st, const struct gitops_file *f,
			 const char *model, const struct gitops_lookup *lk,
			 struct gitops_err *err)
{
	struct gitops_release *r = &st->releases[st->nreleases];
	struct yamltree t;
	json_t *o;
	int rc;

	if (!manifest_name_valid(model))
		return fail(err, RAMP_EINVAL, f->path, 0,
			    "model names match [a-z0-9][a-z0-9._-]{0,62}");
	if ((rc = load_object(f, &t, err)) != 0)
		return rc;
	o = t.root;
	r->model = model;
	r->file = f->path;
	sig_sha256_hex(f->data, f->len, r->digest);
	st->nreleases++; /* owned from here */
	rc = release_fields(st, f, o, lk, r, err);
	if (rc == 0)
		rc = release_policy(st, f, &t, json_object_get(o, "policy"), lk, r, err);
	yamltree_free(&t);
	return rc;
}

/* Pass 0 checks every path's shape and reads keys/; 1 models/; 2
 * policies/ and cohorts/; 3 releases/. Other folders are not ours. */
static int classify(struct gitops_state *st, const struct gitops_file *files, size_t n,
		    const struct gitops_file *f, const struct gitops_lookup *lk, int pass,
		    struct gitops_err *err)
{
	struct arena *a = st->arena;
	const char *p = f->path, *name;

	if (strncmp(p, "keys/", 5) == 0) {
		if ((name = stem(a, p, "keys/", ".pub")) == NULL)
			return fail(err, RAMP_EINVAL, p, 0, "keys/ holds <id>.pub files only");
		return pass == 0 ? parse_key(st, f, name, err) : 0;
	}
	if (strncmp(p, "models/", 7) == 0) {
		const char *rest = p + 7, *slash = strchr(rest, '/');
		const char *model = slash ? arena_strndup(a, rest, (size_t)(slash - rest)) : NULL;
		const char *dir = model ? arena_printf(a, "models/%s/", model) : NULL;
		const char *version = dir ? stem(a, p, dir, ".yaml") : NULL;
		if (!manifest_name_valid(model) ||
		    (version == NULL && (dir == NULL || (!stem(a, p, dir, ".yaml.sig") &&
							 !stem(a, p, dir, ".yaml.key_id")))))
			return fail(err, RAMP_EINVAL, p, 0,
				    "models/ holds <model>/<version>.yaml with .sig and .key_id "
				    "beside it");
		return pass == 1 && version ? parse_manifest(st, files, n, f, model, version, lk, err)
					    : 0;
	}
	if (strncmp(p, "policies/", 9) == 0 || strncmp(p, "cohorts/", 8) == 0) {
		bool pol = p[0] == 'p';
		if ((name = stem(a, p, pol ? "policies/" : "cohorts/", ".yaml")) == NULL)
			return fail(err, RAMP_EINVAL, p, 0, "%s holds <name>.yaml files only",
				    pol ? "policies/" : "cohorts/");
		if (pass != 2)
			return 0;
		return pol ? parse_policy(st, f, name, err) : parse_cohort(st, f, name, err);
	}
	if (strncmp(p, "releases/", 9) == 0) {
		if ((name = stem(a, p, "releases/", ".yaml")) == NULL)
			return fail(err, RAMP_EINVAL, p, 0, "releases/ holds <model>.yaml files only");
		return pass == 3 ? parse_release(st, f, name, lk, err) : 0;
	}
	return 0;
}

int gitops_parse(const struct gitops_file *files, size_t n, const struct gitops_lookup *lk,
		 struct gitops_state *out, struct gitops_err *err)
{
	struct arena *a;
	size_t total = 0;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	memset(err, 0, sizeof(*err));
	if (n > GITOPS_MAX_FILES)
		return fail(err, RAMP_ETOOBIG, "", 0, "more than %d files", GITOPS_MAX_FILES);
	for (size_t i = 0; i < n; i++)
		if ((total += files[i].len) > GITOPS_MAX_TOTAL_BYTES)
			return fail(err, RAMP_ETOOBIG, files[i].path, 0,
				    "the files add up to more than %d bytes",
				    GITOPS_MAX_TOTAL_BYTES);
	out->arena = a = arena_new();
	if (a == NULL)
		return fail(err, RAMP_ENOMEM, "", 0, "out of memory");
	out->keys = arena_calloc(a, n + 1, sizeof(*out->keys));
	out->manifests = calloc(n + 1, sizeof(*out->manifests));
	out->policies = calloc(n + 1, sizeof(*out->policies));
	out->cohorts = arena_calloc(a, n + 1, sizeof(*out->cohorts));
	out->releases = calloc(n + 1, sizeof(*out->releases));
	if (!out->keys || !out->manifests || !out->policies || !out->cohorts || !out->releases)
		rc = fail(err, RAMP_ENOMEM, "", 0, "out of memory");
	/* keys first: manifests verify with them; policies before releases */
	for (int pass = 0; pass < 4 && rc == 0; pass++)
		for (size_t i = 0; i < n && rc == 0; i++)
			rc = classify(out, files, n, &files[i], lk, pass, err);
	if (rc)
		gitops_state_free(out);
	return rc;
}

void gitops_state_free(struct gitops_state *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; s->manifests && i < s->nmanifests; i++)
		manifest_free(&s->manifests[i].m);
	for (size_t i = 0; s->policies && i < s->npolicies; i++)
		free(s->policies[i].p);
	for (size_t i = 0; s->releases && i < s->nreleases; i++)
		if (s->releases[i].own_policy)
			free(s->releases[i].policy);
	free(s->manifests);
	free(s->policies);
	free(s->releases);
	arena_free(s->arena);
	memset(s, 0, sizeof(*s));
}
