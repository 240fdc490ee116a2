/*
 * routes.c - the route table: method, path pattern, handler, roles allowed.
 * First match wins; a path known under another method answers 405.
 */
#include "api/api.h"

const struct route http_routes[] = {
	{"GET", "/healthz", api_healthz, ROLES_PUBLIC, ROUTE_NO_METRICS, NULL},
	{"GET", "/readyz", api_readyz, ROLES_PUBLIC, ROUTE_NO_METRICS, NULL},
	{"GET", "/metrics", api_metrics, ROLES_PUBLIC, ROUTE_NO_METRICS, NULL},

	{"POST", "/v1/tokens", api_tokens_create, ROLES_ADMIN, 0, NULL},
	{"GET", "/v1/tokens", api_tokens_list, ROLES_ADMIN, 0, NULL},
	{"DELETE", "/v1/tokens/{}", api_tokens_delete, ROLES_ADMIN, 0, NULL},

	{"POST", "/v1/devices", api_devices_create, ROLES_OPERATE, 0, NULL},
	{"GET", "/v1/devices", api_devices_list, ROLES_VIEW, 0, NULL},
	{"GET", "/v1/devices/{}", api_device_get, ROLES_VIEW, 0, NULL},
	{"PATCH", "/v1/devices/{}", api_device_patch, ROLES_OPERATE, 0, NULL},
	{"DELETE", "/v1/devices/{}", api_device_delete, ROLES_OPERATE, 0, NULL},
	{"POST", "/v1/enroll", api_enroll, ROLE_ENROLL | ROLES_OPERATE, 0, NULL},

	{"GET", "/v1/cohorts", api_cohorts_list, ROLES_VIEW, 0, NULL},
	{"PUT", "/v1/cohorts/{}", api_cohort_put, ROLES_OPERATE, 0, NULL},
	{"GET", "/v1/cohorts/{}", api_cohort_get, ROLES_VIEW, 0, NULL},
	{"DELETE", "/v1/cohorts/{}", api_cohort_delete, ROLES_OPERATE, 0, NULL},
	{"GET", "/v1/cohorts/{}/devices", api_cohort_devices, ROLES_VIEW, 0, NULL},

	{"POST", "/v1/telemetry", api_telemetry_post, ROLE_DEVICE | ROLE_INGEST | ROLE_ADMIN, 0, NULL},

	{"GET", "/v1/audit", api_audit_list, ROLES_ADMIN, 0, NULL},
	{"GET", "/v1/audit/verify", api_audit_verify, ROLES_ADMIN, 0, NULL},
	{NULL, NULL, NULL, 0, 0, NULL},
};
