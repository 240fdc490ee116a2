/*
 * hawkbit.c - Eclipse hawkBit's Direct Device Integration (DDI) API over
 * ramp, so update clients that speak it (SWUpdate's suricatta,
 * rauc-hawkbit-updater) roll out through ramp unchanged: the poll
 * GET /{tenant}/controller/v1/{controllerId}, deploymentBase/{actionId} and
 * cancelAction/{actionId}. Feedback, configData and installedBase are in
 * hawkbit_feedback.c.
 *
 * A DDI action is ramp's desired answer for one model seen through DDI: the
 * answer comes from the same snapshot GET /v1/agent/desired uses, so stage
 * membership, rollback and ETags are the same; the store adds action
 * numbers and each device's record of its actions (store_hawkbit.h), and
 * domain/ddi decides what a poll exposes.
 */
#include "api/hawkbit.h"

#include "auth/auth.h"
#include "common/hash.h"
#include "common/hex.h"
#include "domain/device_id.h"
#include "common/log.h"
#include "domain/ddi.h"
#include "engine/engine.h"
#include "engine/notify.h"
#include "snapshot/snapshot.h"
#include "store/store_hawkbit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define HOST_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.:-[]"

/* The desired "models" of device id from the request's snapshot, brought
 * up to date when the device is missing from it. 0, RAMP_ENOTFOUND,
 * RAMP_EBUSY (no snapshot yet) or RAMP_ENOMEM. */
static int load_desired(struct req *r, const char *id, json_t **models, char etag[24])
{
	struct snapshot *s = http_snapshot_fresh(r, id);

	*models = NULL;
	if (s == NULL)
		return RAMP_EBUSY;
	return snapshot_desired_models(s, id, r->app->cfg.poll_interval_s, models, etag);
}

/* scheme://host of this request, so links work through whatever name the
 * device used (X-Forwarded-Proto from a TLS front); the configured server
 * URL when the Host header is missing or odd. */
static const char *link_base(struct req *r)
{
	const char *host = http_header(r, "Host"), *proto = http_header(r, "X-Forwarded-Proto");
	const char *scheme = strncmp(r->app->server_url, "https:", 6) == 0 ? "https" : "http";
	size_t n = host ? strlen(host) : 0;

	if (proto && strcasecmp(proto, "https") == 0)
		scheme = "https";
	else if (proto && strcasecmp(proto, "http") == 0)
		scheme = "http";
	if (n == 0 || n > 255 || strspn(host, HOST_CHARS) != n)
		return r->app->server_url;
	return arena_printf(r->arena, "%s://%s", scheme, host);
}

/* Registers controller id for a gateway, as hawkBit does on a first poll:
 * the configured platform, no labels, a device token nobody is shown. */
static int enroll(struct req *r, const char *id)
{
	char tok[AUTH_TOKEN_LEN + 1], hx[65];
	unsigned char h[32];
	struct ramp_err err;
	json_t *arr;
	int rc;

	if (auth_new_token(tok) != 0)
		return RAMP_EINTERNAL;
	auth_hash(tok, h);
	memset(tok, 0, sizeof(tok));
	hex_encode(hx, h, 32);
	arr = json_pack("[{s:s, s:s, s:{}, s:s}]", "id", id, "platform",
			r->app->cfg.hawkbit_platform, "labels", "token_hash", hx);
	if (arr == NULL)
		return RAMP_ENOMEM;
	ramp_err_clear(&err);
	rc = store_devices_create(r->app->db, r->auth.name, arr, &err);
	json_decref(arr);
	if (rc == RAMP_ECONFLICT)
		rc = 0; /* enrolled meanwhile by another request */
	if (rc == 0) {
		log_info("msg=\"hawkbit controller enrolled\" device=%s platform=%s actor=%s", id,
			 r->app->cfg.hawkbit_platform, r->auth.name);
		changed_device(r->app, id);
	}
	return rc;
}

/* A device token for another controller than its own: 401 when that
 * controller is not registered, 403 when it is another device. */
static void refuse_other(struct req *r, struct hawkbit_ctx *h, int rc)
{
	if (rc == RAMP_ENOTFOUND) {
		http_add_header(r, "WWW-Authenticate", "Bearer");
		http_reply_problem(r, 401, "controllerId", "controller %s is not registered",
				   h->device);
	} else {
		http_reply_problem(r, 403, "controllerId",
				   "this target token belongs to controller %s, not %s",
				   r->auth.device_id, h->device);
	}
}

/* Maintenance windows (docs/windows.md) in DDI terms: a device held for
 * its window is offered the pending version with maintenanceWindow
 * "unavailable" (and update "skip", as hawkBit does, which SWUpdate
 * honours by not installing); once released, "available". models is the
 * request's own copy. */
static void ddi_windows(json_t *models)
{
	size_t i;
	json_t *m;

	json_array_foreach(models, i, m) {
		json_t *pending = json_object_get(m, "pending");
		if (json_is_object(pending)) {
			json_t *p = json_deep_copy(pending);
			if (p == NULL)
				continue;
			json_object_set_new(p, "_window", json_string("unavailable"));
			json_object_set(p, "next_window_at", json_object_get(m, "next_window_at"));
			json_array_set_new(models, i, p);
		} else if (json_object_get(json_object_get(m, "rollout"), "window")) {
			json_object_set_new(m, "_window", json_string("available"));
		}
	}
}

bool hawkbit_begin(struct req *r, struct hawkbit_ctx *h, bool enroll_unknown)
{
	int rc;

	memset(h, 0, sizeof(*h));
	h->tenant = r->params[0];
	h->device = r->params[1];
	if (strcasecmp(h->tenant, r->app->cfg.hawkbit_tenant) != 0) {
		api_reply_not_found(r, "tenant", "tenant", h->tenant);
		return false;
	}
	if (!api_device_id_valid(h->device)) {
		http_reply_problem(r, 404, "controllerId",
				   "controller ids match " DEVICE_ID_RULE);
		return false;
	}
	rc = load_desired(r, h->device, &h->models, h->etag);
	if (r->auth.role == ROLE_DEVICE && strcmp(r->auth.device_id, h->device) != 0) {
		refuse_other(r, h, rc);
		hawkbit_end(h);
		return false;
	}
	if (rc == RAMP_ENOTFOUND && enroll_unknown && r->auth.role != ROLE_DEVICE) {
		rc = enroll(r, h->device);
		if (rc == 0)
			rc = load_desired(r, h->device, &h->models, h->etag);
	}
	if (rc == RAMP_ENOTFOUND)
		http_reply_problem(r, 404, "controllerId", "controller %s is not registered",
				   h->device);
	else if (rc == RAMP_EBUSY)
		http_reply_problem(r, 503, NULL, "starting up, retry shortly");
	else if (rc)
		http_reply_err(r, rc, NULL);
	if (rc) {
		hawkbit_end(h);
		return false;
	}
	h->base = link_base(r);
	ddi_windows(h->models);
	snapshot_note_poll(http_snapshot(r), h->device, NULL);
	return true;
}

const char *hawkbit_window(const struct hawkbit_ctx *h, const char *model)
{
	return json_string_value(json_object_get(hawkbit_desired(h, model), "_window"));
}

void hawkbit_end(struct hawkbit_ctx *h)
{
	json_decref(h->models);
	h->models = NULL;
}

json_t *hawkbit_desired(const struct hawkbit_ctx *h, const char *model)
{
	size_t i;
	json_t *m;

	json_array_foreach(h->models, i, m) {
		if (model && strcmp(json_string_value(json_object_get(m, "model")), model) == 0)
			return m;
	}
	return NULL;
}

json_t *hawkbit_action(struct req *r, int idx)
{
	json_t *a = NULL;
	int64_t id;
	int rc;

	if (ddi_action_id_parse(r->params[idx], &id) != 0) {
		api_reply_not_found(r, "actionId", "action", r->params[idx]);
		return NULL;
	}
	rc = store_hawkbit_action(r->app->db, id, &a);
	if (rc == RAMP_ENOTFOUND)
		http_reply_problem(r, 404, "actionId", "no action %" PRId64, id);
	else if (rc)
		http_reply_err(r, rc, NULL);
	return rc ? NULL : a;
}

bool hawkbit_is_desired(const struct hawkbit_ctx *h, const json_t *action)
{
	json_t *m = hawkbit_desired(h, json_string_value(json_object_get(action, "model")));
	const char *v = json_string_value(json_object_get(action, "version"));

	return m && v && strcmp(json_string_value(json_object_get(m, "version")), v) == 0;
}

/* ---- the poll ---- */

/* [{"model","version","rollout_id"}] of the desired answer. */
static json_t *wanted(json_t *models)
{
	json_t *out = json_array(), *m;
	size_t i;

	json_array_foreach(models, i, m) {
		json_t *ro = json_object_get(m, "rollout");
		json_array_append_new(out, json_pack("{s:O, s:O, s:I}", "model",
						     json_object_get(m, "model"), "version",
						     json_object_get(m, "version"), "rollout_id",
						     json_integer_value(json_object_get(ro, "id"))));
	}
	return out;
}

/* Runs ddi_plan over the desired answer and the store's view (st). */
static enum ddi_next plan(struct req *r, json_t *models, json_t *st, int64_t *id)
{
	json_t *actions = json_object_get(st, "actions"), *installed = json_object_get(st, "installed");
	json_t *records = json_object_get(st, "records"), *m, *rec;
	size_t nm = json_array_size(models), nr = json_array_size(records), no = 0, i, k;
	struct ddi_model *dm = arena_calloc(r->arena, nm + 1, sizeof(*dm));
	struct ddi_open *open = arena_calloc(r->arena, nr + 1, sizeof(*open));

	if (dm == NULL || open == NULL)
		return DDI_NOTHING;
	json_array_foreach(records, k, rec) {
		if (strcmp(json_string_value(json_object_get(rec, "state")), "open") != 0)
			continue;
		open[no].action_id = json_integer_value(json_object_get(rec, "id"));
		open[no].model = json_string_value(json_object_get(rec, "model"));
		open[no++].version = json_string_value(json_object_get(rec, "version"));
	}
	json_array_foreach(models, i, m) {
		dm[i].model = json_string_value(json_object_get(m, "model"));
		dm[i].version = json_string_value(json_object_get(m, "version"));
		dm[i].action_id = json_integer_value(json_object_get(actions, dm[i].model));
		dm[i].installed = json_string_value(json_object_get(installed, dm[i].model));
		json_array_foreach(records, k, rec) {
			const char *left = json_string_value(json_object_get(rec, "left_on"));
			/* closed, and the device still runs what it ran then */
			if (json_integer_value(json_object_get(rec, "id")) == dm[i].action_id &&
			    strcmp(json_string_value(json_object_get(rec, "state")), "closed") == 0 &&
			    strcmp(left ? left : "", dm[i].installed ? dm[i].installed : "") == 0)
				dm[i].closed = true;
		}
	}
	return ddi_plan(dm, nm, open, no, id);
}

static void add_link(json_t *links, const char *name, const char *href)
{
	json_object_set_new(links, name, json_pack("{s:s}", "href", href));
}

/* Replies 200 with body and an ETag over it, or 304 for a matching If-None-Match. */
static void reply_tagged(struct req *r, json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT), etag[24];
	uint64_t h = HASH_FNV1A_BASIS_V0; /* ETags devices hold: unchanged */
	const char *inm = http_header(r, "If-None-Match");

	json_decref(body);
	if (text == NULL) {
		http_reply_err(r, RAMP_ENOMEM, NULL);
		return;
	}
	h = hash_fnv1a_str(h, text);
	snprintf(etag, sizeof(etag), "\"%016" PRIx64 "\"", h);
	http_add_header(r, "ETag", etag);
	http_add_header(r, "Cache-Control", "no-cache");
	if (inm && strcmp(inm, etag) == 0) {
		free(text);
		http_reply_empty(r, 304);
		return;
	}
	http_reply_text(r, 200, "application/json", text, strlen(text));
}

void api_hawkbit_poll(struct req *r)
{
	struct hawkbit_ctx h;
	json_t *want, *st = NULL, *links;
	const char *root;
	char sleep[9];
	int64_t id = 0;
	enum ddi_next next;
	int rc;

	if (!hawkbit_begin(r, &h, true))
		return;
	want = wanted(h.models);
	rc = store_hawkbit_poll(r->app->db, h.device, want, &st);
	json_decref(want);
	if (rc) {
		http_reply_err(r, rc, NULL);
		hawkbit_end(&h);
		return;
	}
	next = plan(r, h.models, st, &id);
	root = arena_printf(r->arena, "%s/%s/controller/v1/%s", h.base, h.tenant, h.device);
	links = json_object();
	if (next == DDI_DEPLOY)
		add_link(links, "deploymentBase",
			 arena_printf(r->arena, "%s/deploymentBase/%" PRId64 "?c=%" PRIu32, root, id,
				      ddi_c_hash(h.etag, id)));
	else if (next == DDI_CANCEL)
		add_link(links, "cancelAction",
			 arena_printf(r->arena, "%s/cancelAction/%" PRId64, root, id));
	if (!json_is_true(json_object_get(st, "config_sent")))
		add_link(links, "configData", arena_printf(r->arena, "%s/configData", root));
	ddi_sleep_text(r->app->cfg.poll_interval_s, sleep);
	json_decref(st);
	hawkbit_end(&h);
	reply_tagged(r, json_pack("{s:{s:{s:s}}, s:o}", "config", "polling", "sleep", sleep,
				  "_links", links));
}

/* ---- deploymentBase ---- */

/* SHA-1 and MD5 of the stored artifact (hex into sha1/md5) and its size;
 * RAMP_ENOTFOUND when this server does not hold it. */
static int hash_file(struct req *r, const char *hex, char sha1[41], char md5[33], int64_t *size)
{
	unsigned char buf[65536], d1[EVP_MAX_MD_SIZE], d2[EVP_MAX_MD_SIZE];
	unsigned int n1 = 0, n2 = 0;
	EVP_MD_CTX *c1 = EVP_MD_CTX_new(), *c2 = EVP_MD_CTX_new();
	ssize_t got;
	int64_t have;
	int fd = -1, rc = RAMP_EINTERNAL;

	*size = 0;
	if (c1 == NULL || c2 == NULL || !EVP_DigestInit_ex(c1, EVP_sha1(), NULL) ||
	    !EVP_DigestInit_ex(c2, EVP_md5(), NULL))
		goto out;
	if ((rc = store_artifact_local(r->app->db, r->app->cfg.data_dir, r->app->cfg.artifacts_in_db,
				       hex, &fd, &have)) != 0) {
		fd = -1;
		goto out;
	}
	rc = RAMP_EINTERNAL;
	while ((got = read(fd, buf, sizeof(buf))) > 0) {
		EVP_DigestUpdate(c1, buf, (size_t)got);
		EVP_DigestUpdate(c2, buf, (size_t)got);
		*size += got;
	}
	if (got < 0 || !EVP_DigestFinal_ex(c1, d1, &n1) || !EVP_DigestFinal_ex(c2, d2, &n2)) {
		rc = RAMP_EIO;
		goto out;
	}
	hex_encode(sha1, d1, n1);
	hex_encode(md5, d2, n2);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	EVP_MD_CTX_free(c1);
	EVP_MD_CTX_free(c2);
	return rc;
}

/* {"sha256", "sha1"?, "md5"?} for a sha256:<hex> digest, with the size of
 * the stored file in *size (-1 when this server does not hold it). The
 * SHA-1 and MD5 are computed once and kept (store_hawkbit_hashes_*). */
static json_t *hashes(struct req *r, const char *digest, int64_t *size)
{
	const char *hex = digest && strncmp(digest, "sha256:", 7) == 0 ? digest + 7 : NULL;
	json_t *out = json_object(), *kept = NULL;
	char sha1[41], md5[33];

	*size = -1;
	if (hex == NULL || strlen(hex) != 64 || strspn(hex, "0123456789abcdef") != 64)
		return out;
	json_object_set_new(out, "sha256", json_string(hex));
	if (store_hawkbit_hashes_get(r->app->db, digest, &kept) == 0) {
		json_object_set(out, "sha1", json_object_get(kept, "sha1"));
		json_object_set(out, "md5", json_object_get(kept, "md5"));
		*size = json_integer_value(json_object_get(kept, "size"));
		json_decref(kept);
		return out;
	}
	if (hash_file(r, hex, sha1, md5, size) != 0) {
		*size = -1;
		return out;
	}
	json_object_set_new(out, "sha1", json_string(sha1));
	json_object_set_new(out, "md5", json_string(md5));
	if (store_hawkbit_hashes_put(r->app->db, digest, sha1, md5, *size) != 0)
		log_warn("msg=\"could not keep artifact hashes\" digest=%s", digest);
	return out;
}

/* The artifact of desired entry m: filename, hashes, size and a download
 * link to this server's artifact store (through the host the device used)
 * or to the manifest's own URL. */
static json_t *artifact(struct req *r, const struct hawkbit_ctx *h, json_t *m)
{
	const char *digest = json_string_value(json_object_get(m, "digest"));
	const char *url = json_string_value(json_object_get(m, "url"));
	const char *ours = arena_printf(r->arena, "%s/v1/artifacts/%s", r->app->server_url, digest);
	json_t *size = json_object_get(m, "size"), *a;
	int64_t stored;
	json_t *hs = hashes(r, digest, &stored);

	if (url == NULL || (ours && strcmp(url, ours) == 0))
		url = arena_printf(r->arena, "%s/v1/artifacts/%s", h->base, digest);
	a = json_pack("{s:O, s:o}", "filename", json_object_get(m, "file"), "hashes", hs);
	if (json_is_integer(size))
		json_object_set(a, "size", size);
	else if (stored >= 0)
		json_object_set_new(a, "size", json_integer(stored));
	json_object_set_new(a, "_links",
			    json_pack("{s:{s:s}}",
				      strncmp(url, "https:", 6) == 0 ? "download" : "download-http",
				      "href", url));
	return a;
}

static void add_meta(json_t *meta, const char *key, json_t *value)
{
	if (json_is_string(value))
		json_array_append_new(meta, json_pack("{s:s, s:o}", "key", key, "value", value));
	else
		json_decref(value);
}

/* Chunk metadata: where the action comes from and what a client needs to
 * check the signed manifest itself. */
static json_t *metadata(json_t *m)
{
	json_t *meta = json_array(), *ro = json_object_get(m, "rollout");
	char id[24];

	if (json_is_object(ro)) {
		snprintf(id, sizeof(id), "%" JSON_INTEGER_FORMAT,
			 json_integer_value(json_object_get(ro, "id")));
		add_meta(meta, "ramp.rollout", json_string(id));
		add_meta(meta, "ramp.stage", json_incref(json_object_get(ro, "stage")));
	}
	add_meta(meta, "ramp.digest", json_incref(json_object_get(m, "digest")));
	add_meta(meta, "ramp.key_id", json_incref(json_object_get(m, "key_id")));
	add_meta(meta, "ramp.signature", json_incref(json_object_get(m, "signature")));
	add_meta(meta, "ramp.manifest", json_incref(json_object_get(m, "manifest")));
	return meta;
}

void api_hawkbit_deployment(struct req *r)
{
	struct hawkbit_ctx h;
	json_t *action, *m, *chunk;
	char id[24];
	int rc;

	if (!hawkbit_begin(r, &h, false))
		return;
	if ((action = hawkbit_action(r, 2)) == NULL)
		goto out;
	if (!hawkbit_is_desired(&h, action)) {
		http_reply_problem(r, 404, "actionId", "action %s is not open for controller %s",
				   r->params[2], h.device);
		goto out;
	}
	m = hawkbit_desired(&h, json_string_value(json_object_get(action, "model")));
	snprintf(id, sizeof(id), "%" JSON_INTEGER_FORMAT,
		 json_integer_value(json_object_get(action, "id")));
	chunk = json_pack("{s:s, s:O, s:O, s:[o], s:o}", "part", "os", "version",
			  json_object_get(m, "version"), "name", json_object_get(m, "model"),
			  "artifacts", artifact(r, &h, m), "metadata", metadata(m));
	rc = store_hawkbit_record(r->app->db, h.device, json_integer_value(json_object_get(action, "id")),
				  "open", NULL, json_string_value(json_object_get(action, "model")),
				  NULL);
	if (rc) {
		json_decref(chunk);
		http_reply_err(r, rc, NULL);
		goto out;
	}
	{
		const char *win = json_string_value(json_object_get(m, "_window"));
		json_t *out = json_pack("{s:s, s:{s:s, s:s, s:[o]}}", "id", id, "deployment",
					"download", "forced", "update",
					win && strcmp(win, "unavailable") == 0 ? "skip" : "forced",
					"chunks", chunk);
		if (out && win)
			json_object_set_new(json_object_get(out, "deployment"), "maintenanceWindow",
					    json_string(win));
		http_reply_json(r, 200, out);
	}
out:
	json_decref(action);
	hawkbit_end(&h);
}

/* ---- cancelAction ---- */

void api_hawkbit_cancel(struct req *r)
{
	struct hawkbit_ctx h;
	json_t *action;
	char id[24];

	if (!hawkbit_begin(r, &h, false))
		return;
	if ((action = hawkbit_action(r, 2)) == NULL) {
		hawkbit_end(&h);
		return;
	}
	snprintf(id, sizeof(id), "%" JSON_INTEGER_FORMAT,
		 json_integer_value(json_object_get(action, "id")));
	if (hawkbit_is_desired(&h, action))
		http_reply_problem(r, 404, "actionId", "action %s of controller %s is not canceled",
				   id, h.device);
	else
		http_reply_json(r, 200, json_pack("{s:s, s:{s:s}}", "id", id, "cancelAction",
						  "stopId", id));
	json_decref(action);
	hawkbit_end(&h);
}
