/*
 * gitops_releases.c - every sync, against the last applied commit: each
 * release's rollout started, aborted or left alone (rules at the head of
 * gitops_apply.c), and each managed policy and cohort compared with what
 * ramp holds (drift; put back with RAMP_GITOPS_SELF_HEAL=1). Fills
 * g->objects, the per-object part of GET /v1/gitops.
 */
#include "engine/gitops_int.h"

#include "common/log.h"
#include "engine/rollouts.h"
#include "store/store.h"
#include "store/store_gitops.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ACTOR "gitops"

static json_t *object(const char *kind, const char *name, const char *file)
{
	return json_pack("{s:s, s:s, s:s, s:s}", "kind", kind, "name", name, "file", file, "state",
			 "synced");
}

static void set(json_t *o, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set(json_t *o, const char *key, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	json_object_set_new(o, key, json_string(buf));
}

/* The model's active rollout: its id (0: none) and version. */
static int find_active(struct gitops *g, const char *model, int64_t *id, char *version,
		       size_t len)
{
	struct page pg = {0};
	json_t *first;
	int rc = store_rollout_list(g->app->db, true, model, 1, NULL, &pg);

	*id = 0;
	version[0] = '\0';
	if (rc)
		return rc;
	first = json_array_get(pg.items, 0);
	if (first) {
		*id = json_integer_value(json_object_get(first, "id"));
		snprintf(version, len, "%s", json_string_value(json_object_get(first, "version")) ?: "");
	}
	page_free(&pg);
	return 0;
}

static void abort_rollout(struct gitops *g, int64_t id, json_t *o, const char *why)
{
	struct ramp_err e;
	int rc;

	ramp_err_clear(&e);
	rc = rollouts_command(g->app, id, CMD_ABORT, ACTOR, &e);
	if (rc && rc != RAMP_ECONFLICT) {
		json_object_set_new(o, "state", json_string("error"));
		set(o, "detail", "could not abort the rollout: %s", e.msg);
		return;
	}
	set(o, "detail", "rollout %lld aborted: %s", (long long)id, why);
	log_info("msg=\"gitops aborted a rollout\" rollout=%lld", (long long)id);
}

/* The rollout this very release file started, when it has ended badly. */
static bool degraded(struct gitops *g, const struct gitops_release *r, json_t *o)
{
	struct gitops_release_row row;
	json_t *ro = NULL;
	const char *state, *stage;
	bool bad = false;

	if (store_gitops_release_get(g->app->db, r->model, &row) != 0 ||
	    strcmp(row.digest, r->digest) != 0 || strcmp(row.version, r->version) != 0 ||
	    row.rollout_id == 0 || store_rollout_get_json(g->app->db, row.rollout_id, 0, &ro) != 0)
		return false;
	state = json_string_value(json_object_get(ro, "state")) ?: "";
	stage = json_string_value(json_object_get(json_object_get(ro, "stage"), "name")) ?: "?";
	json_object_set_new(o, "rollout", json_integer(row.rollout_id));
	if (strcmp(state, "rolled_back") == 0 || strcmp(state, "aborted") == 0) {
		char h[200];
		snprintf(h, sizeof(h), "degraded: %s at stage %s",
			 state[0] == 'r' ? "rolled back" : "aborted", stage);
		json_object_set_new(o, "health", json_string(h));
		bad = true;
	} else if (strcmp(state, "succeeded") == 0) {
		json_object_set_new(o, "health", json_string("healthy"));
		bad = true; /* nothing to start: the stable version follows shortly */
	}
	json_decref(ro);
	return bad;
}

/* As POST /v1/rollouts asks (api_manifest_reachable): each variant without a
 * url must be in the artifact store, or devices would be sent nowhere. */
static int reachable(struct gitops *g, const struct gitops_release *r, struct ramp_err *e)
{
	json_t *rec = NULL, *v;
	size_t i;
	int rc = store_manifest_signable(g->app->db, r->model, r->version, &rec);

	json_array_foreach(json_object_get(rec, "variants"), i, v) {
		const char *d = json_string_value(json_object_get(v, "digest"));
		char path[PATH_MAX + 96];
		struct stat st;
		if (json_string_value(json_object_get(v, "url")) != NULL || d == NULL ||
		    strncmp(d, "sha256:", 7) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/artifacts/sha256/%.2s/%.64s", g->app->cfg.data_dir,
			 d + 7, d + 7);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			continue;
		rc = ramp_err_set(e, RAMP_EINVAL, "",
				  "variant %s points at nothing: no url, and %.80s is not in the "
				  "artifact store (PUT /v1/artifacts/%.80s)",
				  json_string_value(json_object_get(v, "platform")), d, d);
		break;
	}
	json_decref(rec);
	return rc;
}

static void start_rollout(struct gitops *g, const struct gitops_release *r, json_t *o)
{
	struct ramp_err e;
	int64_t id = 0;
	int rc;

	ramp_err_clear(&e);
	rc = reachable(g, r, &e);
	if (rc == 0)
		rc = rollouts_create(g->app, ACTOR, r->model, r->version, r->policy_name,
				     r->policy, r->selector, &id, &e);
	if (rc) {
		json_object_set_new(o, "state", json_string("error"));
		set(o, "detail", "could not start the rollout: %s",
		    e.msg[0] ? e.msg : ramp_strerror(rc));
		return;
	}
	store_gitops_release_put(g->app->db, r->model, r->digest, r->version, id, g->applied);
	json_object_set_new(o, "rollout", json_integer(id));
	json_object_set_new(o, "health", json_string("progressing"));
	log_info("msg=\"gitops started a rollout\" model=%s version=%s rollout=%lld", r->model,
		 r->version, (long long)id);
}

static json_t *release_one(struct gitops *g, const struct gitops_release *r)
{
	json_t *o = object("release", r->model, r->file);
	char stable[130] = "", active_version[130];
	int64_t active = 0;

	json_object_set_new(o, "version", json_string(r->version));
	if (store_model_stable(g->app->db, r->model, stable, sizeof(stable)) != 0 ||
	    find_active(g, r->model, &active, active_version, sizeof(active_version)) != 0) {
		json_object_set_new(o, "state", json_string("error"));
		json_object_set_new(o, "detail", json_string("database unavailable"));
		return o;
	}
	if (strcmp(r->version, stable) == 0) {
		if (active)
			abort_rollout(g, active, o,
				      "the release went back to the stable version");
		json_object_set_new(o, "health", json_string("healthy"));
		return o;
	}
	if (active && strcmp(active_version, r->version) == 0) {
		json_object_set_new(o, "rollout", json_integer(active));
		json_object_set_new(o, "health", json_string("progressing"));
		return o;
	}
	if (active)
		abort_rollout(g, active, o, "Git asks for another version");
	if (!degraded(g, r, o))
		start_rollout(g, r, o);
	return o;
}

static json_t *policy_drift(struct gitops *g, const struct gitops_policy *gp)
{
	json_t *o = object("policy", gp->name, gp->file), *stored = NULL, *doc, *out = NULL;
	struct policy *p = malloc(sizeof(*p));
	struct ramp_err e;
	bool created, same = false;
	int rc = store_policy_get(g->app->db, gp->name, &stored);

	if (p && rc == 0)
		same = policy_from_json(json_object_get(stored, "policy"), p, &e) == 0 &&
		       policy_equal(p, gp->p);
	free(p);
	json_decref(stored);
	if (rc && rc != RAMP_ENOTFOUND) {
		json_object_set_new(o, "state", json_string("error"));
		return o;
	}
	if (same)
		return o;
	if (!g->app->cfg.gitops_self_heal) {
		json_object_set_new(o, "state", json_string("drift"));
		set(o, "detail", "%s in ramp, differs from Git", rc ? "deleted" : "changed");
		return o;
	}
	doc = policy_to_json(gp->p);
	rc = doc ? store_policy_put(g->app->db, ACTOR, gp->name, doc, gp->source, &created, &out)
		 : RAMP_ENOMEM;
	json_decref(doc);
	json_decref(out);
	json_object_set_new(o, "state", json_string(rc ? "drift" : "synced"));
	set(o, "detail", "%s", rc ? "changed in ramp; could not put it back"
				  : "changed in ramp; put back from Git (self-heal)");
	return o;
}

static json_t *cohort_drift(struct gitops *g, const struct gitops_cohort *gc)
{
	json_t *o = object("cohort", gc->name, gc->file), *stored = NULL, *out = NULL;
	bool created;
	int rc = store_cohort_get(g->app->db, gc->name, &stored);
	const char *sel = json_string_value(json_object_get(stored, "selector"));
	bool same = rc == 0 && sel && strcmp(sel, gc->selector) == 0;

	json_decref(stored);
	if (same || (rc && rc != RAMP_ENOTFOUND))
		return o;
	if (!g->app->cfg.gitops_self_heal) {
		json_object_set_new(o, "state", json_string("drift"));
		set(o, "detail", "%s in ramp, differs from Git", rc ? "deleted" : "changed");
		return o;
	}
	rc = store_cohort_put(g->app->db, ACTOR, gc->name, gc->selector, &created, &out);
	json_decref(out);
	json_object_set_new(o, "state", json_string(rc ? "drift" : "synced"));
	set(o, "detail", "%s", rc ? "changed in ramp; could not put it back"
				  : "changed in ramp; put back from Git (self-heal)");
	return o;
}

void gitops_reconcile(struct gitops *g)
{
	const struct gitops_state *st = &g->state;
	json_t *objs = json_array();

	if (objs == NULL)
		return;
	for (size_t i = 0; i < st->nkeys; i++)
		json_array_append_new(objs, object("key", st->keys[i].id, st->keys[i].file));
	for (size_t i = 0; i < st->nmanifests; i++) {
		json_t *o = object("manifest", st->manifests[i].m.name, st->manifests[i].file);
		json_object_set_new(o, "version", json_string(st->manifests[i].m.version));
		json_array_append_new(objs, o);
	}
	for (size_t i = 0; i < st->npolicies; i++)
		json_array_append_new(objs, policy_drift(g, &st->policies[i]));
	for (size_t i = 0; i < st->ncohorts; i++)
		json_array_append_new(objs, cohort_drift(g, &st->cohorts[i]));
	for (size_t i = 0; i < st->nreleases; i++)
		json_array_append_new(objs, release_one(g, &st->releases[i]));
	json_decref(g->objects);
	g->objects = objs;
}
