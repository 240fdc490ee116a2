/*
 * shadow.c - a shadow stage's candidate on the device (docs/judge.md
 * "Shadow runs"). The desired entry keeps naming the version the device
 * serves and carries the candidate as its "shadow": this file fetches it
 * exactly as an install would (manifest signature with the trusted keys,
 * download with Range resume into the partial file, the signed digest and
 * size), commits it into <model-dir>/<model>/<version>/ beside current,
 * points the <model>/shadow link at it (for an inference process that reads
 * the store) and calls the shadow hook (ramp-runner loads it). current is
 * never touched and no status is reported: the controller must go on
 * seeing the served version as what runs. When the entry has no shadow any
 * more, the hook is told to stop and the link goes. A candidate that fails
 * is not retried until the controller names another; a download that broke
 * off is resumed at the next poll.
 */
#include "agent_int.h"

#include "common/log.h"
#include "fetch.h"
#include "verify.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int is(const struct mark *m, const struct desired_model *e)
{
	return strcmp(m->version, e->version) == 0 && strcmp(m->digest, e->digest) == 0;
}

static void set(struct mark *m, const struct desired_model *e)
{
	snprintf(m->version, sizeof(m->version), "%s", e ? e->version : "");
	snprintf(m->digest, sizeof(m->digest), "%s", e ? e->digest : "");
}

/* The model's shadow record, made when new; NULL when the table is full. */
static int slot_of(struct agent *a, const char *model)
{
	for (size_t i = 0; i < a->nshadows; i++)
		if (strcmp(a->shadows[i].model, model) == 0)
			return (int)i;
	if (a->nshadows == AGENT_MAX_MODELS)
		return -1;
	memset(&a->shadows[a->nshadows], 0, sizeof(a->shadows[0]));
	snprintf(a->shadows[a->nshadows].model, sizeof(a->shadows[0].model), "%s", model);
	return (int)a->nshadows++;
}

/* Downloads c into part and checks it; 0, or an error in err. */
static int fetch(struct agent *a, const struct desired_model *c, const struct verify_signed *sv,
		 char *part, size_t cap, struct ramp_err *err)
{
	char ubuf[2048];
	const char *url;
	struct fetch_req req;
	struct fetch_result got = {0};
	int rc, same;

	if ((rc = mstore_partial(a->conf.model_dir, c->model, sv->digest, part, cap, err)) != 0)
		return rc;
	url = install__fetch_url(a, c->url, ubuf, sizeof(ubuf));
	same = ctl_same_origin(&a->ctl, url);
	req = (struct fetch_req){url, same && a->ctl.token[0] ? a->conf.token : NULL, &a->ctl,
				 same, sv->size >= 0 ? sv->size : a->conf.max_bytes, &a->stop};
	rc = fetch_resume(&req, part, &got, err);
	atomic_fetch_add(&a->counters.downloads, 1);
	atomic_fetch_add(&a->counters.download_bytes, (unsigned long)(got.bytes - got.resumed_from));
	if (rc != 0)
		return rc;
	rc = got.hashed ? verify_digest(got.sha256, got.bytes, sv->digest, sv->size, err)
			: verify_file(part, sv->digest, sv->size, err);
	if (rc != 0)
		unlink(part);
	return rc;
}

/* Verifies c and puts its file in the store; 0 with path set, or an error. */
static int obtain(struct agent *a, const struct desired_model *c, char *path, size_t cap,
		  struct ramp_err *err)
{
	struct verify_signed sv;
	char part[PATH_MAX];
	json_t *meta;
	int rc;

	if ((rc = verify_any(a, c, &sv, err)) != 0)
		return rc;
	mstore_file(a->conf.model_dir, c->model, c->version, path, cap);
	if (mstore_has(a->conf.model_dir, c->model, c->version, sv.digest))
		return 0;
	if ((rc = fetch(a, c, &sv, part, sizeof(part), err)) != 0)
		return rc;
	meta = json_pack("{s:s, s:s, s:s, s:I, s:s, s:b}", "model", c->model, "version", c->version,
			 "digest", c->digest, "size", (json_int_t)mstore_size(part), "key_id",
			 c->key_id, "shadow", 1);
	if (meta == NULL)
		return ramp_err_set(err, RAMP_ENOMEM, "", "out of memory");
	rc = mstore_commit(a->conf.model_dir, c->model, c->version, part, meta, err);
	json_decref(meta);
	return rc;
}

static void stop_shadow(struct agent *a, int i)
{
	struct ramp_err err = {0};
	const char *model = a->shadows[i].model;

	log_info("msg=\"shadow run stopped\" model=%s version=%s", model, a->shadows[i].on.version);
	if (a->hooks.shadow)
		a->hooks.shadow(a->hooks.cls, model, NULL, NULL, 0, &err);
	mstore_point(a->conf.model_dir, model, "shadow", "", &err);
	set(&a->shadows[i].on, NULL);
}

void shadow_reconcile(struct agent *a, const struct desired_model *e)
{
	const struct desired_model *c = e->shadow;
	struct ramp_err err = {0};
	char path[PATH_MAX];
	int i = slot_of(a, e->model), rc;

	if (i < 0 || !mstore_name_ok(e->model))
		return;
	if (c == NULL || !mstore_name_ok(c->version)) {
		if (a->shadows[i].on.version[0])
			stop_shadow(a, i);
		return;
	}
	if (is(&a->shadows[i].on, c) || is(&a->shadows[i].failed, c))
		return;
	rc = obtain(a, c, path, sizeof(path), &err);
	if (rc == RAMP_EIO) { /* broke off: resumed at the next poll */
		log_warn("msg=\"shadow download will resume\" model=%s version=%s reason=\"%s\"",
			 c->model, c->version, err.msg);
		return;
	}
	if (rc == 0)
		rc = mstore_point(a->conf.model_dir, c->model, "shadow", c->version, &err);
	if (rc == 0 && a->hooks.shadow)
		rc = a->hooks.shadow(a->hooks.cls, c->model, c, path, e->shadow_fraction, &err);
	if (rc != 0) {
		log_warn("msg=\"shadow candidate refused\" model=%s version=%s reason=\"%s\"",
			 c->model, c->version, err.msg);
		set(&a->shadows[i].failed, c);
		if (a->shadows[i].on.version[0])
			stop_shadow(a, i);
		return;
	}
	set(&a->shadows[i].on, c);
	log_info("msg=\"shadow run started\" model=%s version=%s serving=%s fraction=%g", c->model,
		 c->version, e->version, e->shadow_fraction);
}
