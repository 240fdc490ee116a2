/*
 * api.h - the handlers behind the route table (routes.c) and the small
 * helpers they share: list paging, name checks, page replies.
 */
#ifndef RAMP_API_H
#define RAMP_API_H

#include "http/http.h"
#include "store/store.h"

/* The route table (routes.c), ending with a {NULL} entry: what
 * http_start() serves. */
extern const struct route api_routes[];

/* What a list's ?after= cursor is: a name, a device id, or a sequence
 * number (rollout ids, manifest rows, audit seq). */
enum api_cursor { API_CURSOR_NAME, API_CURSOR_DEVICE, API_CURSOR_SEQ };
/* A list request's paging: limit (1..1000, default 100); after NULL on the
 * first page, else the cursor (seq holds it parsed for API_CURSOR_SEQ). */
struct api_page {
	int limit;
	const char *after;
	int64_t seq;
};
/* The one reader of ?limit= and ?after= for every list route: 0 with *out
 * filled, or RAMP_EINVAL after a 400 naming "limit" or "after". */
int api_page_args(struct req *r, enum api_cursor kind, struct api_page *out);
/* A list's reply: rc's problem when rc is not 0 (p untouched), else 200
 * {"items": [...], "next": cursor|null}, taking the page. */
void api_reply_page(struct req *r, int rc, struct page *p);
/* 404 {"detail": "no <what> <name>"} naming field; name is repeated only
 * when it is a plain name, id or number ("no such <what>" otherwise). */
void api_reply_not_found(struct req *r, const char *field, const char *what, const char *name);
/* fields_check() (domain/fields.h) answered as 422; true when it replied. */
bool api_reject_unknown(struct req *r, json_t *obj, const char *const allowed[],
			const char *prefix);
/* Seconds in downloading/verifying after which a device's model is "stuck":
 * max(10 x RAMP_POLL_INTERVAL, 600) (docs/api.md). */
int api_stuck_after_s(const struct app *app);
/* The API name syntax [a-z0-9][a-z0-9._-]{0,62}. */
bool api_name_valid(const char *s);
/* Device ids (domain/device_id.h): [A-Za-z0-9._:-]{1,128}, not "." or "..". */
bool api_device_id_valid(const char *s);

/* ops.c */
void api_healthz(struct req *r);
void api_readyz(struct req *r);
void api_metrics(struct req *r);
/* tokens.c */
void api_tokens_create(struct req *r);
void api_tokens_list(struct req *r);
void api_tokens_delete(struct req *r);
/* devices.c */
void api_devices_create(struct req *r);
void api_enroll(struct req *r);
void api_devices_list(struct req *r);
void api_device_get(struct req *r);
void api_device_patch(struct req *r);
void api_device_delete(struct req *r);
void api_cohort_put(struct req *r);
void api_cohort_get(struct req *r);
void api_cohorts_list(struct req *r);
void api_cohort_devices(struct req *r);
void api_cohort_delete(struct req *r);
/* rollouts.c */
void api_policy_put(struct req *r);
void api_policy_get(struct req *r);
void api_policies_list(struct req *r);
void api_rollouts_create(struct req *r);
void api_rollouts_list(struct req *r);
void api_rollout_get(struct req *r);
void api_rollout_pause(struct req *r);
void api_rollout_resume(struct req *r);
void api_rollout_approve(struct req *r);
void api_rollout_promote(struct req *r);
void api_rollout_rollback(struct req *r);
void api_rollout_abort(struct req *r);
/* agent.c */
void api_agent_desired(struct req *r);
void api_agent_status(struct req *r);
/* audit.c */
void api_audit_list(struct req *r);
void api_audit_verify(struct req *r);
void api_snapshot_verify(struct req *r);
/* keys.c, manifests.c, artifacts.c: signing keys, manifests, models, artifacts */
void api_key_put(struct req *r);
void api_key_get(struct req *r);
void api_keys_list(struct req *r);
void api_key_delete(struct req *r);
void api_manifest_post(struct req *r);
void api_manifests_list(struct req *r);
void api_model_version(struct req *r);
void api_model_stable(struct req *r);
void api_model_get(struct req *r);
void api_models_list(struct req *r);
void api_artifact_chunk(struct req *r, const char *data, size_t len);
void api_artifact_put(struct req *r);
void api_artifact_get(struct req *r);
/* Fills each variant's null "url" in a manifest record with this server's
 * artifact URL (<server_url>/v1/artifacts/<digest>). */
void api_manifest_urls(const struct app *app, json_t *record);
/* 0 when every variant of manifest (model, version) can be fetched: it has
 * a url, or its digest is in this server's artifact store. RAMP_EINVAL
 * with err (field "variants[i].digest") naming the first that cannot; 0
 * when the manifest is missing, expired or unsigned (the caller's own
 * checks answer those). */
int api_manifest_reachable(struct req *r, const char *model, const char *version,
			   struct ramp_err *err);
/* deltas.c: CI's delta registration, the list */
void api_delta_post(struct req *r);
void api_deltas_list(struct req *r);
/* telemetry.c */
void api_telemetry_post(struct req *r);

/* otlp.c */
void api_otlp_metrics_post(struct req *r);
/* The OTLP receiver's figures in Prometheus text format, allocated in a. */
char *api_otlp_metrics_text(struct arena *a);

struct mqtt_msg;
/* One MQTT telemetry message (engine/mqtt.h's mqtt_telemetry_fn). */
void api_telemetry_mqtt(struct app *app, const char *device_id, const char *body, size_t len,
			struct mqtt_msg *m);
/* dash.c: whoami, analysis history, fleet summary, the dashboard's files */
void api_whoami(struct req *r);
void api_rollout_history(struct req *r);
void api_fleet_summary(struct req *r);
void api_ui_index(struct req *r);
void api_ui_asset(struct req *r);
/* hawkbit.c, hawkbit_feedback.c: Eclipse hawkBit's DDI device API (docs/hawkbit.md) */
void api_hawkbit_poll(struct req *r);
void api_hawkbit_deployment(struct req *r);
void api_hawkbit_feedback(struct req *r);
void api_hawkbit_cancel(struct req *r);
void api_hawkbit_cancel_feedback(struct req *r);
void api_hawkbit_config(struct req *r);
void api_hawkbit_installed(struct req *r);
/* credentials.c: device token rotation; self-enrollment behind the
 * allowlist and certificate checks (then api_enroll) */
void api_device_token_rotate(struct req *r);
void api_enroll_guarded(struct req *r);
/* gitops.c: the reconciler's status and the sync webhook (docs/gitops.md) */
void api_gitops_status(struct req *r);
void api_gitops_sync(struct req *r);
/* webhooks.c: signed rollout event notifications (docs/webhooks.md) */
void api_webhook_put(struct req *r);
void api_webhook_get(struct req *r);
void api_webhooks_list(struct req *r);
void api_webhook_delete(struct req *r);

/* tuf.c: the TUF repository (docs/tuf.md) */
void api_tuf_metadata(struct req *r);
void api_tuf_target(struct req *r);
void api_tuf_role_put(struct req *r);
void api_tuf_online_keys(struct req *r);
void api_tuf_online_key_new(struct req *r);

#endif
