/*
 * gitops_apply.c - one commit into ramp, and the releases kept in line.
 *
 * A commit is parsed whole first (domain/gitops.c, with ramp's stored keys,
 * versions and policies as lookups), then checked against what ramp holds
 * (a (model, version) is immutable, a key id holds one key), and only then
 * written, through the same store calls as the API, with "gitops" as the
 * actor. Releases are reconciled on every sync against the last applied
 * commit:
 *   version == the model's stable   -> an active rollout is aborted (revert)
 *   an active rollout of version    -> progressing, left alone
 *   otherwise                       -> another version's rollout is aborted and
 *     a rollout started, unless this release file's rollout already ended
 *     rolled back or aborted: "degraded" until the file changes or a retry
 */
#include "engine/gitops_int.h"

#include "common/log.h"
#include "domain/sig.h"
#include "engine/notify.h"
#include "engine/rollouts.h"
#include "store/store.h"
#include "store/store_gitops.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define ACTOR "gitops"

struct lookup_ctx {
	struct gitops *g;
	json_t *keep; /* PEMs handed out, alive until the parse ends */
};

static const char *key_pem(void *ctx, const char *id)
{
	struct lookup_ctx *lc = ctx;
	json_t *key = NULL;
	const char *pem = NULL;

	if (store_key_get(lc->g->app->db, id, &key) != 0)
		return NULL;
	if (json_is_null(json_object_get(key, "revoked_at")))
		pem = json_string_value(json_object_get(key, "public_key"));
	json_array_append_new(lc->keep, key);
	return pem;
}

static bool version_known(void *ctx, const char *model, const char *version)
{
	struct lookup_ctx *lc = ctx;
	json_t *rec = NULL;
	int rc = store_manifest_signable(lc->g->app->db, model, version, &rec);

	json_decref(rec);
	return rc == 0;
}

static bool policy_known(void *ctx, const char *name, struct policy *out)
{
	struct lookup_ctx *lc = ctx;
	json_t *stored = NULL;
	struct ramp_err e;
	bool ok;

	if (store_policy_get(lc->g->app->db, name, &stored) != 0)
		return false;
	ok = policy_from_json(json_object_get(stored, "policy"), out, &e) == 0;
	json_decref(stored);
	return ok;
}

int gitops_read_commit(struct gitops *g, const char *commit, struct gitops_files *files,
		       struct gitops_state *st, struct gitops_err *err)
{
	struct lookup_ctx lc = {g, json_array()};
	struct gitops_lookup lk = {&lc, key_pem, version_known, policy_known, NULL};
	int rc;

	memset(st, 0, sizeof(*st));
	if (lc.keep == NULL)
		return RAMP_ENOMEM;
	rc = gitops_git_files(g->repo, commit, g->app->cfg.gitops_path, files, err);
	if (rc == 0) {
		rc = gitops_parse(files->f, files->n, &lk, st, err);
		if (rc)
			gitops_files_free(files);
	}
	json_decref(lc.keep);
	return rc;
}

static int fail(struct gitops_err *err, int rc, const char *file, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(struct gitops_err *err, int rc, const char *file, const char *fmt, ...)
{
	va_list ap;

	snprintf(err->file, sizeof(err->file), "%s", file);
	err->line = 0;
	va_start(ap, fmt);
	vsnprintf(err->reason, sizeof(err->reason), fmt, ap);
	va_end(ap);
	return rc;
}

/* Nothing in st may contradict what ramp holds: checked before any write. */
static int check_conflicts(struct gitops *g, const struct gitops_state *st,
			   struct gitops_err *err)
{
	for (size_t i = 0; i < st->nkeys; i++) {
		json_t *k = NULL;
		char fp[65], want[80];
		int rc = store_key_get(g->app->db, st->keys[i].id, &k);
		if (rc == RAMP_ENOTFOUND)
			continue;
		if (rc)
			return fail(err, rc, st->keys[i].file, "could not read key %s", st->keys[i].id);
		sig_key_check(st->keys[i].pem, strlen(st->keys[i].pem), NULL, fp, NULL);
		snprintf(want, sizeof(want), "sha256:%s", fp);
		rc = !json_is_null(json_object_get(k, "revoked_at"))
			     ? fail(err, RAMP_ECONFLICT, st->keys[i].file,
				    "key %s is revoked in ramp", st->keys[i].id)
		     : strcmp(json_string_value(json_object_get(k, "fingerprint")) ?: "", want)
			     ? fail(err, RAMP_ECONFLICT, st->keys[i].file,
				    "ramp holds another public key under the id %s",
				    st->keys[i].id)
			     : 0;
		json_decref(k);
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < st->nmanifests; i++) {
		const struct gitops_manifest *gm = &st->manifests[i];
		json_t *rec = NULL;
		const char *text;
		int rc = store_manifest_get(g->app->db, gm->m.name, gm->m.version, &rec);
		if (rc == RAMP_ENOTFOUND)
			continue;
		if (rc)
			return fail(err, rc, gm->file, "could not read %s %s", gm->m.name,
				    gm->m.version);
		text = json_string_value(json_object_get(rec, "manifest"));
		rc = text && strlen(text) == gm->len && memcmp(text, gm->text, gm->len) == 0
			     ? 0
			     : fail(err, RAMP_ECONFLICT, gm->file,
				    "ramp already holds other bytes for %s %s (versions are "
				    "immutable)",
				    gm->m.name, gm->m.version);
		json_decref(rec);
		if (rc)
			return rc;
	}
	return 0;
}

static int put_manifest(struct gitops *g, const struct gitops_manifest *gm, bool *changed,
			struct gitops_err *err)
{
	char hex[65], exp[32];
	char *text = strndup(gm->text, gm->len);
	struct manifest_post mp = {gm->m.name, gm->m.version, text, hex,
				   manifest_doc_json(&gm->m), NULL, gm->key_id, gm->sig};
	enum manifest_outcome outcome = MANIFEST_UNCHANGED;
	struct ramp_err e;
	json_t *out = NULL;
	int rc;

	ramp_err_clear(&e);
	sig_sha256_hex(gm->text, gm->len, hex);
	if (gm->m.expires) {
		manifest_iso8601(gm->m.expires, exp);
		mp.expires_at = exp;
	}
	rc = text && mp.doc ? store_manifest_post(g->app->db, ACTOR, &mp, &outcome, &out, &e)
			    : RAMP_ENOMEM;
	json_decref(mp.doc);
	json_decref(out);
	free(text);
	if (rc)
		return fail(err, rc, gm->file, "could not store the manifest: %s",
			    e.msg[0] ? e.msg : ramp_strerror(rc));
	*changed |= outcome != MANIFEST_UNCHANGED;
	return 0;
}

static int put_rest(struct gitops *g, const struct gitops_state *st, bool *changed,
		    struct gitops_err *err)
{
	for (size_t i = 0; i < st->npolicies; i++) {
		json_t *doc = policy_to_json(st->policies[i].p), *out = NULL;
		bool created;
		int rc = doc ? store_policy_put(g->app->db, ACTOR, st->policies[i].name, doc,
						st->policies[i].source, &created, &out)
			     : RAMP_ENOMEM;
		json_decref(doc);
		json_decref(out);
		if (rc)
			return fail(err, rc, st->policies[i].file, "could not store policy %s: %s",
				    st->policies[i].name, ramp_strerror(rc));
	}
	for (size_t i = 0; i < st->ncohorts; i++) {
		json_t *out = NULL;
		bool created;
		int rc = store_cohort_put(g->app->db, ACTOR, st->cohorts[i].name,
					  st->cohorts[i].selector, &created, &out);
		json_decref(out);
		if (rc)
			return fail(err, rc, st->cohorts[i].file, "could not store cohort %s: %s",
				    st->cohorts[i].name, ramp_strerror(rc));
	}
	for (size_t i = 0; i < st->nreleases; i++) {
		const struct gitops_release *r = &st->releases[i];
		char stable[130];
		json_t *out = NULL;
		struct ramp_err e;
		bool ch = false;
		int rc;
		if (r->stable == NULL)
			continue;
		rc = store_model_stable(g->app->db, r->model, stable, sizeof(stable));
		if (rc == 0 && stable[0] == '\0')
			rc = store_model_set_stable(g->app->db, ACTOR, r->model, r->stable, &ch, &out,
						    &e);
		json_decref(out);
		if (rc)
			return fail(err, rc, r->file, "could not set the stable version of %s: %s",
				    r->model, ramp_strerror(rc));
		*changed |= ch;
	}
	return 0;
}

int gitops_apply(struct gitops *g, const struct gitops_state *st, struct gitops_err *err)
{
	bool changed = false;
	int rc = check_conflicts(g, st, err);

	for (size_t i = 0; rc == 0 && i < st->nkeys; i++) {
		const struct gitops_key *k = &st->keys[i];
		enum sig_alg alg;
		char fp[65];
		bool created;
		json_t *out = NULL;
		struct ramp_err e;
		ramp_err_clear(&e);
		rc = sig_key_check(k->pem, strlen(k->pem), &alg, fp, &e);
		if (rc == 0)
			rc = store_key_put(g->app->db, ACTOR, k->id, k->pem, sig_alg_name(alg), fp,
					   &created, &out, &e);
		json_decref(out);
		if (rc)
			rc = fail(err, rc, k->file, "could not store key: %s", e.msg);
	}
	for (size_t i = 0; rc == 0 && i < st->nmanifests; i++)
		rc = put_manifest(g, &st->manifests[i], &changed, err);
	if (rc == 0)
		rc = put_rest(g, st, &changed, err);
	if (changed)
		changed_catalog(g->app);
	return rc;
}
