/*
 * deltas.c - POST /v1/deltas (CI registers a delta it built and uploaded
 * with PUT /v1/artifacts/<its digest>) and GET /v1/deltas. A registration
 * is checked whole before it is recorded: the delta's own bytes are in the
 * store (their digest was verified on upload), and applying it to the
 * stored "from" artifact, within the window rampd allows devices, yields
 * exactly the stored "to" artifact. Then the catalog changes before the
 * 201, so this replica's answers offer it at once.
 */
#include "api/api.h"

#include "common/zpatch.h"
#include "domain/delta.h"
#include "engine/notify.h"
#include "store/blobs.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Applies the stored delta to the stored from and compares with to; 0, or a reply was made. */
static int check_applies(struct req *r, const struct delta_meta *m, int64_t to_size)
{
	char oldp[PATH_MAX], dp[PATH_MAX];
	struct zpatch_apply_result res;
	struct ramp_err err = {0};
	int in, out, rc;

	if (blob_local(r->app, m->from, oldp, sizeof(oldp)) != 0 ||
	    blob_local(r->app, m->digest, dp, sizeof(dp)) != 0 ||
	    (in = open(dp, O_RDONLY | O_CLOEXEC)) < 0) {
		http_reply_err(r, RAMP_EIO, NULL);
		return -1;
	}
	if ((out = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0) {
		close(in);
		http_reply_err(r, RAMP_EIO, NULL);
		return -1;
	}
	rc = zpatch_apply(oldp, in, out, r->app->cfg.delta_window_log, to_size, &res, &err);
	close(in);
	close(out);
	if (rc == RAMP_EIO || rc == RAMP_ENOMEM) {
		http_reply_err(r, rc, NULL);
		return -1;
	}
	if (rc != 0) {
		http_reply_problem(r, 422, "digest", "the delta does not apply to %s: %s", m->from,
				   err.msg);
		return -1;
	}
	if (res.out_size != to_size || strcmp(res.sha256, m->to + 7) != 0) {
		http_reply_problem(r, 422, "to", "the delta applied to %s gives sha256:%s, not %s",
				   m->from, res.sha256, m->to);
		return -1;
	}
	return 0;
}

void api_delta_post(struct req *r)
{
	struct delta_meta m;
	struct ramp_err err = {0};
	json_t *body = http_json_body(r);
	int64_t size, to_size;
	bool created;
	int rc;

	if (body == NULL)
		return;
	json_decref(body);
	if ((rc = delta_meta_parse(r->body, r->body_len, &m, &err)) != 0) {
		http_reply_err(r, rc, &err);
		return;
	}
	if ((size = blob_size(r->app, m.digest)) < 0) {
		http_reply_problem(r, 422, "digest", "%s is not in the artifact store; upload the delta"
				   " with PUT /v1/artifacts/%s first", m.digest, m.digest);
		return;
	}
	if (blob_size(r->app, m.from) < 0 || (to_size = blob_size(r->app, m.to)) < 0) {
		http_reply_problem(r, 422, blob_size(r->app, m.from) < 0 ? "from" : "to",
				   "both artifacts must be in the artifact store to check the delta");
		return;
	}
	if (check_applies(r, &m, to_size) != 0)
		return;
	rc = store_delta_put(r->app->db, r->auth.name, m.from, m.to, m.digest, size, "uploaded", -1,
			     &created);
	if (rc) {
		http_reply_err(r, rc, NULL);
		return;
	}
	if (created)
		changed_catalog(r->app);
	http_reply_json(r, created ? 201 : 200,
			json_pack("{s:s, s:s, s:s, s:I, s:s, s:s+}", "from", m.from, "to", m.to,
				  "digest", m.digest, "size", (json_int_t)size, "format", DELTA_FORMAT,
				  "url", "/v1/artifacts/", m.digest));
}

void api_deltas_list(struct req *r)
{
	struct page p;
	struct api_page pa;
	int rc;

	if (api_page_args(r, API_CURSOR_SEQ, &pa) != 0)
		return;
	rc = store_delta_list(r->app->db, pa.limit, pa.after, &p);
	api_reply_page(r, rc, &p);
}
