/*
 * api.h - the handlers behind the route table (routes.c) and the small
 * helpers they share: list paging, name checks, page replies.
 */
#ifndef RAMP_API_H
#define RAMP_API_H

#include "http/http.h"
#include "store/store.h"

/* Reads ?limit= (default 100, max 1000); replies 400 and returns -1 when bad. */
int api_limit(struct req *r);
/* Replies 200 {"items": [...], "next": cursor|null}; takes the page. */
void api_reply_page(struct req *r, struct page *p);
/* The API name syntax [a-z0-9][a-z0-9._-]{0,62}. */
bool api_name_valid(const char *s);
/* Device ids [A-Za-z0-9._:-]{1,128}. */
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
/* audit.c */
void api_audit_list(struct req *r);
void api_audit_verify(struct req *r);
/* telemetry.c */
void api_telemetry_post(struct req *r);

#endif
