/*
 * store.h - everything rampd keeps in PostgreSQL. The only module that
 * speaks SQL. Reads answer jansson values built by the database
 * (json_build_object), writes run in one transaction together with their
 * audit entry, so an action and its record are never apart.
 *
 * Every function returns 0 or a negative RAMP_E* code: RAMP_EUNAVAIL when
 * the database cannot be reached, RAMP_ENOTFOUND, RAMP_ECONFLICT.
 * json_t values returned through out-parameters belong to the caller.
 */
#ifndef RAMP_STORE_H
#define RAMP_STORE_H

#include "common/arena.h"
#include "common/err.h"
#include "store/db.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct selector;

/* A page of a list: items (array) and the cursor of the next page or NULL. */
struct page {
	json_t *items;
	char *next; /* malloc'd, or NULL */
};
void page_free(struct page *p);

/* --- helpers shared by the store_*.c files --- */
/* Runs sql whose first column is JSON text, appending each row to *arr (created). */
int store_json_rows(struct dbconn *c, const char *sql, int n, const char *const *p, json_t **arr);
/* Same, for exactly one row; RAMP_ENOTFOUND when there is none. */
int store_json_one(struct dbconn *c, const char *sql, int n, const char *const *p, json_t **out);
/* Trims a limit+1 fetch in out->items to limit and sets out->next from key of the last item. */
void store_paginate(struct page *out, int limit, const char *key);
/* One JSON row of sql with $1 = param; RAMP_ENOTFOUND when none. */
int store_get(struct db *db, const char *sql, const char *param, json_t **out);
/* A page of JSON rows: sql takes $1 = the after cursor ("" on the first page)
 * and $2 = limit + 1; key names the item field the next cursor comes from. */
int store_page(struct db *db, const char *sql, const char *after, int limit, const char *key,
	       struct page *out);
/* Deletes what sql ($1 = id) matches in one transaction with its audit
 * entry (and NOTIFY ramp_changed when notify); RAMP_ENOTFOUND when nothing. */
int store_delete(struct db *db, const char *actor, const char *sql, const char *id,
		 const char *action, const char *notice /* store_changed(); NULL: none */);
/* Appends an audit entry inside the caller's transaction. */
int store_audit(struct dbconn *c, const char *actor, const char *action,
		const char *target, json_t *detail /* borrowed, may be NULL */);
/*
 * The shape of most writes, in c's open transaction: one JSON row of sql
 * into *out, its audit entry (detail borrowed, may be NULL), the commit.
 * 0, or the first step's error (the caller releases c, which rolls back).
 */
int store_write_one(struct dbconn *c, const char *sql, int n, const char *const *p, json_t **out,
		    const char *actor, const char *action, const char *target, json_t *detail);
/* Builds " AND (...)" SQL for sel over devices d, appending values to params
 * (numbered from *np+1). Strings live in the arena. */
char *store_selector_sql(const struct selector *sel, struct arena *a,
			 const char **params, int *np, int maxp);

/* --- tokens --- */
/* The unexpired token with this hash; *expires_at is unix seconds, 0 for never. */
int store_token_lookup(struct db *db, const unsigned char hash[32], struct arena *a,
		       char *role, size_t rolelen, const char **name, const char **device_id,
		       int64_t *expires_at);
int store_token_bootstrap(struct db *db, const unsigned char hash[32]);
int store_token_create(struct db *db, const char *actor, const char *name,
		       const char *role, const unsigned char hash[32], int64_t expires_in,
		       json_t **out);
int store_token_list(struct db *db, int limit, const char *after, struct page *out);
int store_token_delete(struct db *db, const char *actor, const char *name);
/* Sets last_used = now() for the named tokens (a JSON array of names). */
int store_tokens_used(struct db *db, json_t *names);

/* --- devices --- */
/* Registers devices (array of {id, platform, labels, token_hash_hex}) all or
 * nothing; on a duplicate, RAMP_ECONFLICT with the id in err. */
int store_devices_create(struct db *db, const char *actor, json_t *devices,
			 struct ramp_err *err);
/* How device records are shown and filtered: a model entry is "stuck"
 * (schema/010) when downloading/verifying for over stuck_after_s seconds or
 * failed 3 times in a row; stuck: -1 every device, 1 only stuck ones, 0
 * only the others. */
struct device_view {
	int stuck_after_s;
	int stuck;
};
/* The device record; its models entries carry version, state, since,
 * detail, detail_at, failures and stuck. RAMP_ENOTFOUND. */
int store_device_get(struct db *db, const char *id, int stuck_after_s, json_t **out);
int store_devices_list(struct db *db, const struct selector *sel, int limit,
		       const char *after, const struct device_view *view, struct page *out);
int store_devices_count(struct db *db, const struct selector *sel, int64_t *n);
/* Applies {labels?, platform?, pins?} (already validated). */
int store_device_patch(struct db *db, const char *actor, const char *id, json_t *patch,
		       int stuck_after_s, json_t **out);
int store_device_delete(struct db *db, const char *actor, const char *id);
/* Gives device id a new token (hash_hex: SHA-256 of it) named
 * 'device:<id>:<n>'; its older tokens stop working grace_s from now (at
 * once when 0). *out: {id, name, created_at, grace_s, previous_valid_until}.
 * RAMP_ENOTFOUND. (store_credentials.c) */
int store_device_token_rotate(struct db *db, const char *actor, const char *id,
			      const char *hash_hex, int64_t grace_s, json_t **out);

/* --- cohorts --- */
int store_cohort_put(struct db *db, const char *actor, const char *name,
		     const char *selector, bool *created, json_t **out);
int store_cohort_get(struct db *db, const char *name, json_t **out);
int store_cohort_list(struct db *db, int limit, const char *after, struct page *out);
int store_cohort_delete(struct db *db, const char *actor, const char *name);

/* --- audit --- */
int store_audit_list(struct db *db, int64_t after, int limit, struct page *out);
/* *ok false with *broken_at the first bad seq when the chain does not verify. */
int store_audit_verify(struct db *db, bool *ok, int64_t *entries, int64_t *broken_at,
		       char *why, size_t whylen);


/* --- the snapshot behind agent polls (store_snapshot.c) --- */
struct snapshot_loader {
	void *ctx;
	/* running_json: {model: version} the device last reported installed, NULL: none */
	int (*device)(void *ctx, const char *id, const char *platform, const char *pins_json,
		      const char *running_json, const char *window_label);
	/* by_platform_json: {platform: version} kept back from stable (schema
	 * 022), NULL: none */
	int (*model)(void *ctx, const char *name, const char *stable, const char *by_platform_json);
	/* a manifest with a valid (unrevoked, unexpired) signature; doc_json holds variants */
	int (*manifest)(void *ctx, const char *model, const char *version, const char *text,
			const char *signature, const char *key_id, const char *doc_json);
	int (*rollout)(void *ctx, int64_t id, const char *model, const char *version,
		       const char *baseline, const char *state, int stage, const char *stage_name);
	int (*assigned)(void *ctx, int64_t rollout_id, const char *device_id);
	/* a device token: hex SHA-256, its device, when it expires (unix s, 0: never) */
	int (*token)(void *ctx, const char *hash_hex, const char *device_id, int64_t expires_at);
	/* maintenance windows, after its rollout (may be NULL): opens_at the
	 * next opening held devices are told (0: none), windowed whether the
	 * current stage has windows, reverting a rollback waiting for one.
	 * assigned() gets -rollout_id for a held device. */
	int (*rollout_window)(void *ctx, int64_t id, int64_t opens_at, int windowed, int reverting,
			      const char *opens_by_json);
	/* a delta from one artifact digest to another (deltas table) */
	int (*delta)(void *ctx, const char *from, const char *to, const char *digest, int64_t size);
	/* shadow runs (docs/judge.md), after its rollout (may be NULL): the
	 * shadow_fraction of its current stage, 0 when that is not a shadow stage */
	int (*rollout_shadow)(void *ctx, int64_t id, double fraction);
	/* after its rollout (may be NULL): the platforms a per-variant rollback
	 * sent back to the baseline, a JSON array, only when there are some */
	int (*rollout_back)(void *ctx, int64_t id, const char *platforms_json);
};
/* Streams everything a snapshot needs through the loader's callbacks, in one
 * repeatable-read transaction so the picture is consistent. */
int store_snapshot_load(struct db *db, const struct snapshot_loader *l);
/* The catalog only: models, signed manifests, active rollouts. */
int store_snapshot_catalog(struct db *db, const struct snapshot_loader *l);
/* What devices ids[0..n) are now: a device call for each that exists, then
 * their tokens, then their places in active rollouts. */
int store_snapshot_devices(struct db *db, const char *const *ids, size_t n,
			   const struct snapshot_loader *l);
/* The devices assigned to rollout id at stage (stage < 0: at any), when
 * the rollout is active. */
int store_snapshot_members(struct db *db, int64_t id, int stage, const struct snapshot_loader *l);
/* NOTIFY ramp_changed with "<this replica> <what>", inside c's transaction:
 * "d <device id>", "c" (the catalog), "r <rollout id> <stage>". */
int store_changed(struct dbconn *c, const char *what);
/* A PostgreSQL text[] literal of items (NULL items are SQL NULLs), in the
 * arena; NULL on failure. */
char *store_text_array(struct arena *a, const char *const *items, size_t n);
/* This process's tag in those payloads: its own are not applied twice. */
const char *store_replica(void);
/* Writes batched last_seen (and agent_version when not NULL) for devices. */
int store_devices_seen(struct db *db, const char *const *ids, const double *at,
		       const char *const *agent_versions /* entries may be NULL */, size_t n);

/* --- deltas (store_deltas.c) --- */
/* Records a delta whose bytes are in the artifact store, with its audit
 * entry and the catalog notice; *created false when the pair had one. */
int store_delta_put(struct db *db, const char *actor, const char *from, const char *to,
		    const char *digest, int64_t size, const char *source /* built|uploaded */,
		    int64_t build_ms /* < 0: none */, bool *created);
int store_delta_list(struct db *db, int limit, const char *after, struct page *out);
/* Calls fn for each (from, to) artifact pair an active rollout may want a
 * delta for that has none yet; fn's non-zero return stops and is returned. */
int store_delta_wanted(struct db *db, int (*fn)(void *ctx, const char *from, const char *to),
		       void *ctx);

/* --- policies and rollouts (store_rollouts.c) --- */
int store_policy_put(struct db *db, const char *actor, const char *name, json_t *doc,
		     const char *source, bool *created, json_t **out);
int store_policy_get(struct db *db, const char *name, json_t **out);
int store_policy_list(struct db *db, int limit, const char *after, struct page *out);

/* A rollout as the engine and the verbs need it. */
struct rollout_row {
	int64_t id, rev;
	char model[64], version[130], baseline[130], selector[4200];
	bool has_baseline;
	char state[24];
	int stage, failing, extensions;
	int64_t stage_started_at, window_ends_at, paused_at, created_at;
	json_t *policy;          /* owned; the canonical policy copy */
	json_t *baseline_values; /* owned; {metric: value} */
	json_t *variants_back;   /* owned; platforms a per-variant rollback sent back */
};
void rollout_row_clear(struct rollout_row *r);

/* What a transition writes, in one transaction guarded by rev. */
struct rollout_write {
	int64_t id, rev;            /* rev the change was computed from */
	const char *state;
	int stage, failing, extensions;
	int64_t stage_started_at, window_ends_at, paused_at; /* paused_at 0: NULL */
	bool finished;              /* sets finished_at */
	int assign_stage;           /* -1: none */
	const char *const *assign_ids;
	size_t nassign;
	bool set_stable;            /* the rollout's version becomes stable */
	const char *actor;
	json_t *events;             /* [{type, detail}] borrowed */
	json_t *analysis;           /* [{stage, metric, arm, ...}] borrowed, may be NULL */
	json_t *baseline_values;    /* borrowed, may be NULL */
	int target_count;           /* -1: unchanged */
	bool evaluated;             /* sets last_evaluated_at */
	bool assign_held;           /* the assigned devices wait for a window */
	int64_t window_opens_at;    /* 0: unchanged, -1: none, else the next opening */
	const json_t *variants_back; /* [{variant, detail}] platforms going back to the
				      * baseline now (rollback.per_variant), may be NULL:
				      * each joins variants_rolled_back with a breach event */
};

/* Creates a rollout row for a signed manifest; on success *id. The first
 * stage's devices and events are written by store_rollout_write after. */
int store_rollout_insert(struct db *db, const char *actor, const char *model,
			 const char *version, const char *policy_name, json_t *policy,
			 const char *selector, int64_t now, int64_t window_ends_at,
			 json_t *baseline_values, int64_t *id, struct ramp_err *err);
int store_rollout_load(struct db *db, int64_t id, struct rollout_row *out);
/* RAMP_ECONFLICT when rev moved on (another writer won). */
int store_rollout_write(struct db *db, const struct rollout_write *w);
int store_rollout_get_json(struct db *db, int64_t id, int stuck_after_s, json_t **out);
int store_rollout_list(struct db *db, bool active_only, const char *model, int limit,
		       const char *after, struct page *out);
/* Ids of active rollouts, oldest first, as a JSON array of integers. */
int store_rollouts_active(struct db *db, json_t **ids);
/* Calls each() with every device id eligible for a rollout (selector, a
 * variant for their platform, no pin on the model), optionally intersected
 * with a cohort's selector; only (n of them) when not NULL: which of those
 * devices are. Streamed: a million ids are never held as one result. */
int store_rollout_eligible(struct db *db, const char *model, const char *version,
			   const struct selector *sel, const struct selector *cohort,
			   const char *const *only, size_t n,
			   int (*each)(void *ctx, const char *id), void *ctx);
/* The SQL of the devices eligible for model@version (params p[0], p[1]),
 * select being "SELECT <columns> FROM devices d[ <joins>]"; sel's and
 * cohort's values append to p from *np. In arena a; NULL when out of memory. */
char *store_eligible_sql(struct arena *a, const char *select, const char **p, int *np, int maxp,
			 const struct selector *sel, const struct selector *cohort);
/* The cohort's selector text into buf; RAMP_ENOTFOUND. */
int store_cohort_selector(struct db *db, const char *name, char *buf, size_t len);
/* The model's stable version (empty when none); 0 or RAMP_E*. */
int store_model_stable(struct db *db, const char *model, char *buf, size_t len);
/* Calls each() with the id of every device assigned to a rollout (for the
 * analysis arms), streamed. */
int store_rollout_assigned(struct db *db, int64_t id, int (*each)(void *ctx, const char *id),
			   void *ctx);
/* Active rollouts with their current stage's latest analysis, for /metrics:
 * [{id, model, version, state, stage, assigned, analysis: [{metric, arm, value}]}]. */
int store_rollout_gauges(struct db *db, json_t **out);
/* Agent install state: appends to agent_status, updates devices.models
 * (hawkBit feedback: what runs is not tracked, no delta is offered over DDI). */
int store_agent_status(struct db *db, const char *device_id, const char *model,
		       const char *version, const char *state, const char *detail);
/* The same for ramp's own agents (POST /v1/agent/status): installed also
 * records what the device runs (devices.running, a rolled_back of that
 * version clears it) with the device's notice, and delta_json (may be
 * NULL) becomes models.<model>.delta. *running_changed says whether what
 * runs changed; the caller then changes the snapshot (changed_device). */
int store_agent_report(struct db *db, const char *device_id, const char *model,
		       const char *version, const char *state, const char *detail,
		       const char *delta_json, bool *running_changed);
/* Install outcomes in a window for version: [{device_id, failed}] (latest per device). */
int store_install_outcomes(struct db *db, const char *model, const char *version,
			   double from_ts, double to_ts, json_t **out);


/* --- signing keys (store_keys.c) --- */
/* Adds key id (alg "ecdsa-p256"|"ed25519", fingerprint hex) or finds it:
 * *created false when the same key is already there. RAMP_ECONFLICT with err
 * when id holds another key or is revoked. *out is the key record. */
int store_key_put(struct db *db, const char *actor, const char *id, const char *pem,
		  const char *alg, const char *fingerprint, bool *created, json_t **out,
		  struct ramp_err *err);
/* {id, alg, fingerprint, created_at, created_by, revoked_at, public_key}. */
int store_key_get(struct db *db, const char *id, json_t **out);
int store_key_list(struct db *db, int limit, const char *after, struct page *out);
/* Sets revoked_at; *changed false when it already was. RAMP_ENOTFOUND. */
int store_key_revoke(struct db *db, const char *actor, const char *id, bool *changed);

/* --- manifests, models, artifacts (store_manifests.c) --- */
/* A manifest whose signature the caller has verified. */
struct manifest_post {
	const char *model, *version;
	const char *text;       /* exact posted bytes, NUL-terminated */
	const char *digest_hex; /* SHA-256 of text */
	json_t *doc;            /* borrowed: {"variants": [...], "expires"} */
	const char *expires_at; /* RFC 3339, or NULL */
	const char *key_id, *signature;
};
enum manifest_outcome {
	MANIFEST_CREATED,   /* a new (model, version) */
	MANIFEST_SIGNED,    /* the same bytes, a signature by another key added */
	MANIFEST_UNCHANGED, /* the same bytes, already signed by this key */
};
/*
 * Stores a manifest and its signature with a manifest.post audit entry, in
 * one transaction, saying what happened in *outcome. RAMP_ECONFLICT (err)
 * for other bytes under the same (model, version); RAMP_EINVAL (err) when
 * the key is unknown or revoked. *out is the manifest record (below).
 */
int store_manifest_post(struct db *db, const char *actor, const struct manifest_post *mp,
			enum manifest_outcome *outcome, json_t **out, struct ramp_err *err);
/*
 * The manifest record: {"model","version","manifest": text,"signature",
 * "key_id" (the newest signature by a non-revoked key, else the newest),
 * "signatures":[{"key_id","signature","revoked","created_at"}],"digest":
 * "sha256:<hex of text>","posted_by","created_at","expires","variants":
 * [{"platform","file","digest","url","size","capabilities"}]}. A variant's
 * url (and size) is null when the manifest has none: the artifact is then
 * served by this server at /v1/artifacts/<digest>. RAMP_ENOTFOUND.
 */
int store_manifest_get(struct db *db, const char *model, const char *version, json_t **out);
/* Newest first; model NULL for every model; after is a cursor (0: from the start). */
int store_manifest_list(struct db *db, const char *model, int limit, int64_t after,
			struct page *out);
/*
 * For the rollout engine: 0 with *manifest_record (as store_manifest_get)
 * when (model, version) may be installed; RAMP_ENOTFOUND when there is no
 * such manifest; RAMP_EINVAL when no non-revoked key signed it or it has
 * expired. *manifest_record is NULL on any error.
 */
int store_manifest_signable(struct db *db, const char *model, const char *version,
			    json_t **manifest_record);
/*
 * Sets the model's stable version (model.stable audit entry when it
 * changes). RAMP_ENOTFOUND / RAMP_EINVAL (err) as store_manifest_signable.
 * *out is the model record {name, stable_version, versions, updated_at, updated_by}.
 */
int store_model_set_stable(struct db *db, const char *actor, const char *model,
			   const char *version, bool *changed, json_t **out,
			   struct ramp_err *err);
int store_model_get(struct db *db, const char *name, json_t **out);
int store_model_list(struct db *db, int limit, const char *after, struct page *out);
/* Records an artifact upload (artifact.put) in the audit log. */
/* store_artifacts.c: artifacts in the database and the local files
 * downloads are served from. */
/* $RAMP_DATA_DIR/artifacts/sha256/<2 hex>/<hex> into out; with make_dir
 * its folders are made. */
int artifact_file_path(const char *data_dir, const char *hex, char *out, size_t len,
		       bool make_dir);
/* Writes the (already verified) artifact sha256:<hex> of size bytes read
 * from fd into the database in 1 MiB chunks, each chunk stored once by its
 * own hash; *created false when it was there already. */
int store_artifact_put_fd(struct db *db, const char *hex, int fd, int64_t size, bool *created);
/* Copies this replica's file of sha256:<hex> into the database (a file
 * from before the database store: moved off the embedded database), its
 * content checked against its name. RAMP_ENOTFOUND without such a file. */
int store_artifact_import(struct db *db, const char *data_dir, const char *hex);
/* The size of sha256:<hex> in the database; RAMP_ENOTFOUND when absent. */
int store_artifact_size(struct db *db, const char *hex, int64_t *size);
/* Opens the local file of sha256:<hex> for reading (*fd_out, *size_out);
 * with in_db, one this replica lacks is first copied from the database
 * (digest checked). RAMP_ENOTFOUND when neither has it. */
int store_artifact_local(struct db *db, const char *data_dir, bool in_db, const char *hex,
			 int *fd_out, int64_t *size_out);
int store_artifact_audit(struct db *db, const char *actor, const char *digest, int64_t size,
			 bool created);
/* --- telemetry (store_telemetry.c; the writer is store/ingest.h) --- */
struct telemetry_report;
/* Called per row by store_telemetry_scan; a non-zero return stops the scan. */
typedef int (*telemetry_row_fn)(void *ctx, const struct telemetry_report *r);
/* Streams the reports of model whose version is one of versions (every
 * version when nversions is 0) with from_ts <= ts <= to_ts (unix seconds),
 * in no particular order, through a cursor so memory stays flat. Absent
 * gauges are NaN, histograms come back as stored. Holds one pool
 * connection (and a read-only transaction) until it returns. Returns 0, a
 * store error, or the callback's non-zero return. r is only valid during
 * the call. */
int store_telemetry_scan(struct db *db, const char *model, const char *const *versions,
			 int nversions, double from_ts, double to_ts, telemetry_row_fn fn,
			 void *ctx);
/* What one housekeeping pass did. */
struct telemetry_maint {
	int created, dropped; /* daily partitions */
	int64_t deleted;      /* rows expired from the default partition */
};
/* Creates daily partitions ahead, drops the ones wholly older than
 * retention_s and deletes older rows from the default partition, under a
 * short lock_timeout (a busy table fails the pass; retry later). out may be
 * NULL. */
int store_telemetry_maintain(struct db *db, int64_t retention_s, struct telemetry_maint *out);
/* Of the newline-separated device ids, those not registered, as a new JSON
 * array of strings in *missing (caller decrefs). One query for the lot. */
int store_devices_missing(struct db *db, const char *ids_nl, json_t **missing);


/* --- the TUF repository (store_tuf.c, docs/tuf.md) --- */
/* The bytes of role's latest (version < 0) or given version (caller
 * frees); RAMP_ENOTFOUND when there is none. */
int store_tuf_get(struct db *db, const char *role, int64_t version, char **body, size_t *len);
/* Checks (domain/tuf_repo.h) and stores the next document of role ("root",
 * "targets" or a delegated role), then signs a new snapshot and timestamp
 * with the online keys, in one transaction. *out {role, version}. */
int store_tuf_put(struct db *db, const char *actor, const char *role, const char *body,
		  size_t len, int64_t now, int64_t ttl, json_t **out, struct ramp_err *err);
/* Re-signs snapshot and timestamp when either is within half its lifetime
 * of expiring (the evaluator's job); *resigned says whether it did. ttl is
 * a timestamp's lifetime (RAMP_TUF_TIMESTAMP_EXPIRES), a snapshot's 7 days;
 * store_tuf_put takes it too. */
int store_tuf_refresh(struct db *db, int64_t now, int64_t ttl, bool *resigned);
/* {"snapshot": {keyid: key}, "timestamp": {...}}: the online public keys,
 * one of each made when there is none. */
int store_tuf_online_keys(struct db *db, json_t **out);
/* A new online key for role ("snapshot" or "timestamp"), for a root
 * rotation to name: *out {role, keyid, key}. */
int store_tuf_online_key_new(struct db *db, const char *role, json_t **out);
/* The same inside c's transaction (out may be NULL). */
int store_tuf_online_key_add(struct dbconn *c, const char *role, json_t **out);
/* store_mqtt.c: deletes MQTT idempotency keys received more than
 * older_than_s ago (past the broker's session expiry no redelivery comes). */
int store_mqtt_prune_keys(struct db *db, long long older_than_s, long long *deleted);

#endif
