/*
 * routes.c - the route table: method, path pattern, handler, roles allowed.
 * First match wins; a path known under another method answers 405.
 */
#include "api/api.h"

const struct route api_routes[] = {
	{"GET", "/healthz", api_healthz, ROLES_PUBLIC, ROUTE_NO_METRICS | ROUTE_INLINE, NULL},
	{"GET", "/readyz", api_readyz, ROLES_PUBLIC, ROUTE_NO_METRICS, NULL},
	{"GET", "/metrics", api_metrics, ROLES_PUBLIC, ROUTE_NO_METRICS | ROUTE_INLINE, NULL},

	{"POST", "/v1/tokens", api_tokens_create, ROLES_ADMIN, 0, NULL},
	{"GET", "/v1/tokens", api_tokens_list, ROLES_ADMIN, 0, NULL},
	{"DELETE", "/v1/tokens/{}", api_tokens_delete, ROLES_ADMIN, 0, NULL},

	{"POST", "/v1/devices", api_devices_create, ROLES_OPERATE, 0, NULL},
	{"GET", "/v1/devices", api_devices_list, ROLES_VIEW, 0, NULL},
	{"GET", "/v1/devices/{}", api_device_get, ROLES_VIEW, 0, NULL},
	{"PATCH", "/v1/devices/{}", api_device_patch, ROLES_OPERATE, 0, NULL},
	{"DELETE", "/v1/devices/{}", api_device_delete, ROLES_OPERATE, 0, NULL},
	{"POST", "/v1/enroll", api_enroll_guarded, ROLE_ENROLL | ROLES_OPERATE, ROUTE_CERT_ENROLL,
	 NULL},
	{"POST", "/v1/devices/{}/token", api_device_token_rotate, ROLES_OPERATE, 0, NULL},

	{"GET", "/v1/cohorts", api_cohorts_list, ROLES_VIEW, 0, NULL},
	{"PUT", "/v1/cohorts/{}", api_cohort_put, ROLES_OPERATE, 0, NULL},
	{"GET", "/v1/cohorts/{}", api_cohort_get, ROLES_VIEW, 0, NULL},
	{"DELETE", "/v1/cohorts/{}", api_cohort_delete, ROLES_OPERATE, 0, NULL},
	{"GET", "/v1/cohorts/{}/devices", api_cohort_devices, ROLES_VIEW, 0, NULL},

	{"PUT", "/v1/policies/{}", api_policy_put, ROLES_OPERATE, 0, NULL},
	{"GET", "/v1/policies/{}", api_policy_get, ROLES_VIEW | ROLE_CI, 0, NULL},
	{"GET", "/v1/policies", api_policies_list, ROLES_VIEW | ROLE_CI, 0, NULL},

	{"POST", "/v1/rollouts", api_rollouts_create, ROLES_OPERATE | ROLE_CI, 0, NULL},
	{"GET", "/v1/rollouts", api_rollouts_list, ROLES_VIEW | ROLE_CI, 0, NULL},
	{"GET", "/v1/rollouts/{}", api_rollout_get, ROLES_VIEW | ROLE_CI, 0, NULL},
	{"POST", "/v1/rollouts/{}/pause", api_rollout_pause, ROLES_OPERATE, 0, NULL},
	{"POST", "/v1/rollouts/{}/resume", api_rollout_resume, ROLES_OPERATE, 0, NULL},
	{"POST", "/v1/rollouts/{}/approve", api_rollout_approve, ROLES_OPERATE, 0, NULL},
	{"POST", "/v1/rollouts/{}/promote", api_rollout_promote, ROLES_OPERATE, 0, NULL},
	{"POST", "/v1/rollouts/{}/rollback", api_rollout_rollback, ROLES_OPERATE, 0, NULL},
	{"POST", "/v1/rollouts/{}/abort", api_rollout_abort, ROLES_OPERATE, 0, NULL},

	{"GET", "/v1/agent/desired", api_agent_desired, ROLE_DEVICE, ROUTE_INLINE, NULL},
	{"POST", "/v1/agent/status", api_agent_status, ROLE_DEVICE, 0, NULL},
	/* signing keys, manifests, models, artifacts */
	{"GET", "/v1/keys", api_keys_list, ROLES_VIEW, 0, NULL},
	{"PUT", "/v1/keys/{}", api_key_put, ROLES_ADMIN, 0, NULL},
	{"GET", "/v1/keys/{}", api_key_get, ROLES_VIEW, 0, NULL},
	{"DELETE", "/v1/keys/{}", api_key_delete, ROLES_ADMIN, 0, NULL},
	{"POST", "/v1/manifests", api_manifest_post, ROLE_ADMIN | ROLE_CI, 0, NULL},
	{"GET", "/v1/manifests", api_manifests_list, ROLES_VIEW | ROLE_CI, 0, NULL},
	{"GET", "/v1/models", api_models_list, ROLES_VIEW, 0, NULL},
	{"GET", "/v1/models/{}", api_model_get, ROLES_VIEW, 0, NULL},
	{"PUT", "/v1/models/{}/stable", api_model_stable, ROLES_OPERATE, 0, NULL},
	{"GET", "/v1/models/{}/versions/{}", api_model_version, ROLES_VIEW | ROLE_CI, 0, NULL},
	{"PUT", "/v1/artifacts/{}", api_artifact_put, ROLE_ADMIN | ROLE_CI, ROUTE_STREAM_BODY,
	 api_artifact_chunk},
	{"GET", "/v1/artifacts/{}", api_artifact_get, ROLES_ANY, 0, NULL},
	/* deltas (docs/deltas.md) */
	{"POST", "/v1/deltas", api_delta_post, ROLE_ADMIN | ROLE_CI, 0, NULL},
	{"GET", "/v1/deltas", api_deltas_list, ROLES_VIEW | ROLE_CI, 0, NULL},
	{"POST", "/v1/telemetry", api_telemetry_post, ROLE_DEVICE | ROLE_INGEST | ROLE_ADMIN, 0, NULL},
	/* OpenTelemetry OTLP/HTTP metrics (docs/telemetry.md), as /v1/telemetry */
	{"POST", "/otlp/v1/metrics", api_otlp_metrics_post, ROLE_DEVICE | ROLE_INGEST | ROLE_ADMIN, 0,
	 NULL},

	/* hawkBit DDI (docs/hawkbit.md): device tokens for their own controller,
	 * ingest/admin (gateway) tokens for any; all touch the database */
	{"GET", "/{}/controller/v1/{}", api_hawkbit_poll, ROLE_DEVICE | ROLE_INGEST | ROLE_ADMIN, 0, NULL},
	{"GET", "/{}/controller/v1/{}/deploymentBase/{}", api_hawkbit_deployment,
	 ROLE_DEVICE | ROLE_INGEST | ROLE_ADMIN, 0, NULL},
	{"POST", "/{}/controller/v1/{}/deploymentBase/{}/feedback", api_hawkbit_feedback,
	 ROLE_DEVICE | ROLE_INGEST | ROLE_ADMIN, 0, NULL},
	{"GET", "/{}/controller/v1/{}/cancelAction/{}", api_hawkbit_cancel,
	 ROLE_DEVICE | ROLE_INGEST | ROLE_ADMIN, 0, NULL},
	{"POST", "/{}/controller/v1/{}/cancelAction/{}/feedback", api_hawkbit_cancel_feedback,
	 ROLE_DEVICE | ROLE_INGEST | ROLE_ADMIN, 0, NULL},
	{"PUT", "/{}/controller/v1/{}/configData", api_hawkbit_config,
	 ROLE_DEVICE | ROLE_INGEST | ROLE_ADMIN, 0, NULL},
	{"PUT", "/{}/controller/v1/{}/installedBase", api_hawkbit_installed,
	 ROLE_DEVICE | ROLE_INGEST | ROLE_ADMIN, 0, NULL},

	{"GET", "/v1/audit", api_audit_list, ROLES_ADMIN, 0, NULL},
	{"GET", "/v1/audit/verify", api_audit_verify, ROLES_ADMIN, 0, NULL},
	{"GET", "/v1/snapshot/verify", api_snapshot_verify, ROLES_ADMIN, 0, NULL},
	/* dashboard and rampctl (dash.c) */
	{"GET", "/v1/whoami", api_whoami, ROLES_ANY, 0, NULL},
	{"GET", "/v1/rollouts/{}/history", api_rollout_history, ROLES_VIEW | ROLE_CI, 0, NULL},
	{"GET", "/v1/fleet/summary", api_fleet_summary, ROLES_VIEW, 0, NULL},
	{"GET", "/", api_ui_index, ROLES_PUBLIC, ROUTE_INLINE, NULL},
	{"GET", "/ui/{}", api_ui_asset, ROLES_PUBLIC, ROUTE_INLINE, NULL},
	/* GitOps (gitops.c): the sync webhook checks its own credentials */
	{"GET", "/v1/gitops", api_gitops_status, ROLES_VIEW | ROLE_CI, 0, NULL},
	{"POST", "/v1/gitops/sync", api_gitops_sync, ROLES_PUBLIC, 0, NULL},
	/* webhooks (webhooks.c) */
	{"GET", "/v1/webhooks", api_webhooks_list, ROLES_VIEW, 0, NULL},
	{"PUT", "/v1/webhooks/{}", api_webhook_put, ROLES_OPERATE, 0, NULL},
	{"GET", "/v1/webhooks/{}", api_webhook_get, ROLES_VIEW, 0, NULL},
	{"DELETE", "/v1/webhooks/{}", api_webhook_delete, ROLES_OPERATE, 0, NULL},
	/* the TUF repository (tuf.c, docs/tuf.md): metadata is public, as in
	 * any TUF repository; targets are artifacts */
	{"GET", "/v1/tuf/metadata/{}", api_tuf_metadata, ROLES_PUBLIC, 0, NULL},
	{"GET", "/v1/tuf/targets/{}/{}/{}/{}", api_tuf_target, ROLES_ANY, 0, NULL},
	{"PUT", "/v1/tuf/roles/{}", api_tuf_role_put, ROLE_ADMIN | ROLE_CI, 0, NULL},
	{"GET", "/v1/tuf/online-keys", api_tuf_online_keys, ROLES_ADMIN, 0, NULL},
	{"POST", "/v1/tuf/online-keys/{}", api_tuf_online_key_new, ROLES_ADMIN, 0, NULL},
	{NULL, NULL, NULL, 0, 0, NULL},
};
