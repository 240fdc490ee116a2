/*
 * tufc.c - the agent's TUF client: fetches each document with a cap
 * (endless data), walks root rotations, timestamp, snapshot, targets and
 * the delegations that name the path, persists what became trusted, and
 * names the attack whenever a step refuses. The fetching is here; every
 * decision is domain/tuf_client.c's.
 */
#include "tufc.h"

#include "ctl.h"
#include "common/buf.h"
#include "common/log.h"
#include "domain/tuf.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void state_path(const struct conf *c, const char *name, char *out, size_t cap)
{
	snprintf(out, cap, "%s/tuf/%s", c->state_dir, name);
}

bool tufc_enabled(const struct conf *c)
{
	char p[1100];

	if (!strcmp(c->tuf, "on"))
		return true;
	if (!strcmp(c->tuf, "off"))
		return false;
	state_path(c, "root.json", p, sizeof(p));
	return c->tuf_root[0] || access(p, F_OK) == 0;
}

struct sink {
	struct buf b;
	bool too_big;
};

static size_t on_body(char *data, size_t size, size_t n, void *cls)
{
	struct sink *s = cls;

	if (buf_append(&s->b, data, size * n) != 0) {
		s->too_big = true;
		return 0;
	}
	return size * n;
}

/* GET <controller>/v1/tuf/metadata/<file>, at most max bytes. 0 with *body
 * (caller frees); RAMP_ENOTFOUND on 404; RAMP_ETOOBIG past max; RAMP_EIO. */
static int get(struct ctl *ctl, const char *file, size_t max, char **body, size_t *len,
	       struct ramp_err *err)
{
	struct sink s = {0};
	char url[700];
	CURL *h = curl_easy_init();
	CURLcode cc;
	long code = 0;
	int rc = 0;

	*body = NULL;
	*len = 0;
	if (h == NULL)
		return ramp_err_set(err, RAMP_EIO, "tuf", "tuf: out of memory");
	buf_init(&s.b, max);
	snprintf(url, sizeof(url), "%s/v1/tuf/metadata/%s", ctl->base, file);
	ctl_apply_tls(ctl, h, 1);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(h);
	if (s.too_big)
		rc = ramp_err_set(err, RAMP_ETOOBIG, "endless-data",
				  "tuf: endless-data: %s is longer than %zu bytes", file, max);
	else if (cc != CURLE_OK)
		rc = ramp_err_set(err, RAMP_EIO, "tuf", "tuf: cannot fetch %s: %s", file,
				  curl_easy_strerror(cc));
	else if (code == 404)
		rc = RAMP_ENOTFOUND;
	else if (code != 200)
		rc = ramp_err_set(err, RAMP_EIO, "tuf", "tuf: %s answered %ld", file, code);
	if (rc == 0) {
		*len = s.b.len;
		*body = s.b.p ? s.b.p : strdup("");
		return *body ? 0 : RAMP_EIO;
	}
	buf_free(&s.b);
	return rc;
}

static char *slurp(const char *path, size_t max, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p;

	if (f == NULL)
		return NULL;
	p = malloc(max + 1);
	*len = p ? fread(p, 1, max + 1, f) : 0;
	fclose(f);
	if (p == NULL || *len > max) {
		free(p);
		return NULL;
	}
	p[*len] = '\0';
	return p;
}

/* Writes what became trusted, atomically (a crash keeps the older file). */
static void persist(const struct conf *c, const char *name, const char *data, size_t len)
{
	char dir[1100], p[1100], tmp[1200];
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/tuf", c->state_dir);
	(void)mkdir(dir, 0700);
	state_path(c, name, p, sizeof(p));
	snprintf(tmp, sizeof(tmp), "%s.tmp", p);
	f = fopen(tmp, "wb");
	if (f == NULL || fwrite(data, 1, len, f) != len || fflush(f) != 0 || fsync(fileno(f)) != 0) {
		if (f)
			fclose(f);
		log_warn("msg=\"cannot keep tuf metadata\" file=%s error=\"%s\"", p, strerror(errno));
		return;
	}
	fclose(f);
	if (rename(tmp, p) != 0)
		log_warn("msg=\"cannot keep tuf metadata\" file=%s error=\"%s\"", p, strerror(errno));
}

static void forget(const struct conf *c, const char *name)
{
	char p[1100];

	state_path(c, name, p, sizeof(p));
	unlink(p);
}

/* The trusted root (kept, else pinned) and the kept timestamp and
 * snapshot, which later documents may not go back from. */
static int load(const struct conf *c, struct tuf_trust *t, struct ramp_err *err)
{
	static const char *const names[] = {"timestamp.json", "snapshot.json"};
	char p[1100], *text;
	size_t len;
	bool pinned;
	int rc;

	state_path(c, "root.json", p, sizeof(p));
	text = slurp(p, TUF_MAX_ROOT, &len);
	pinned = text == NULL && c->tuf_root[0];
	if (pinned)
		text = slurp(c->tuf_root, TUF_MAX_ROOT, &len);
	if (text == NULL)
		return ramp_err_set(err, RAMP_EINVAL, "tuf",
				    "tuf: no root pinned (tuf-root, or %s)", p);
	rc = tuf_trust_init(t, text, len, err);
	if (rc == 0 && pinned) /* from now on the kept root is the trusted one */
		persist(c, "root.json", text, len);
	free(text);
	if (rc) {
		snprintf(err->msg, sizeof(err->msg), "tuf: the pinned root does not verify");
		return rc;
	}
	for (int i = 0; i < 2; i++) {
		json_t *doc = NULL;
		struct ramp_err ignored;

		state_path(c, names[i], p, sizeof(p));
		text = slurp(p, TUF_MAX_META, &len);
		if (text && tuf_parse(text, len, TUF_MAX_META, i ? TUF_SNAPSHOT : TUF_TIMESTAMP, &doc,
				      &ignored) == 0) {
			if (i)
				t->snapshot = doc;
			else
				t->timestamp = doc;
		}
		free(text);
	}
	return 0;
}

/* 5.3: N+1.root.json until there is none. */
static int update_root(const struct conf *c, struct ctl *ctl, struct tuf_trust *t,
		       struct ramp_err *err)
{
	for (int i = 0; i < TUF_MAX_ROOT_ROTATIONS; i++) {
		char file[48], *body;
		size_t len;
		bool had_ts = t->timestamp != NULL;
		int rc;

		snprintf(file, sizeof(file), "%lld.root.json", (long long)tuf_version(t->root) + 1);
		rc = get(ctl, file, TUF_MAX_ROOT, &body, &len, err);
		if (rc == RAMP_ENOTFOUND)
			return 0;
		if (rc == 0)
			rc = tuf_update_root(t, body, len, err);
		if (rc == 0)
			persist(c, "root.json", body, len);
		if (rc == 0 && had_ts && t->timestamp == NULL) {
			forget(c, "timestamp.json");
			forget(c, "snapshot.json");
		}
		free(body);
		if (rc)
			return rc;
	}
	return 0;
}

typedef int (*step_fn)(struct tuf_trust *t, const char *data, size_t len, int64_t now,
		       struct ramp_err *err);

static int step(const struct conf *c, struct ctl *ctl, struct tuf_trust *t, const char *file,
		size_t max, step_fn fn, const char *keep, int64_t now, struct ramp_err *err)
{
	char *body;
	size_t len;
	int rc = get(ctl, file, max, &body, &len, err);

	if (rc == RAMP_ENOTFOUND)
		return ramp_err_set(err, RAMP_EIO, "tuf", "tuf: the controller has no %s", file);
	if (rc)
		return rc;
	rc = fn(t, body, len, now, err);
	if (rc == 0 && keep)
		persist(c, keep, body, len);
	free(body);
	return rc;
}

static int refresh(const struct conf *c, struct ctl *ctl, struct tuf_trust *t, int64_t now,
		   struct ramp_err *err)
{
	char file[96];
	int rc = update_root(c, ctl, t, err);

	if (rc == 0)
		rc = tuf_check_root_expiry(t, now, err);
	if (rc == 0)
		rc = step(c, ctl, t, "timestamp.json", TUF_MAX_TIMESTAMP, tuf_update_timestamp,
			  "timestamp.json", now, err);
	if (rc)
		return rc;
	snprintf(file, sizeof(file), "%lld.snapshot.json", (long long)tuf_snapshot_version(t));
	rc = step(c, ctl, t, file, tuf_max_length(t, "snapshot"), tuf_update_snapshot,
		  "snapshot.json", now, err);
	if (rc)
		return rc;
	snprintf(file, sizeof(file), "%lld.targets.json", (long long)tuf_role_version(t, "targets"));
	return step(c, ctl, t, file, tuf_max_length(t, "targets"), tuf_update_targets, NULL, now,
		    err);
}

/* 5.7: the target, loading the delegations on its way. */
static int find(struct ctl *ctl, struct tuf_trust *t, const char *path, int64_t now,
		const json_t **info, struct ramp_err *err)
{
	char need[64], parent[64], file[96], *body;
	size_t len;
	int rc;

	for (int i = 0; i <= TUF_MAX_DELEGATIONS; i++) {
		rc = tuf_find_target(t, path, info, need, parent, err);
		if (rc != RAMP_EBUSY)
			return rc;
		snprintf(file, sizeof(file), "%lld.%s.json", (long long)tuf_role_version(t, need),
			 need);
		rc = get(ctl, file, tuf_max_length(t, need), &body, &len, err);
		if (rc == RAMP_ENOTFOUND)
			return ramp_err_set(err, RAMP_EIO, "tuf", "tuf: the controller has no %s", file);
		if (rc)
			return rc;
		rc = tuf_update_delegated(t, parent, need, body, len, now, err);
		free(body);
		if (rc)
			return rc;
	}
	return ramp_err_set(err, RAMP_EINVAL, "malformed", "tuf: delegations too deep");
}

/* "tuf: <attack>: <msg>" for the status report. */
static int named(int rc, struct ramp_err *err)
{
	char msg[sizeof(err->msg)];

	if (rc == 0 || rc == RAMP_EIO || strncmp(err->msg, "tuf: ", 5) == 0)
		return rc;
	snprintf(msg, sizeof(msg), "tuf: %.30s: %.200s", err->field[0] ? err->field : "refused",
		 err->msg);
	memcpy(err->msg, msg, sizeof(msg));
	return rc;
}

int tufc_verify(const struct conf *c, struct ctl *ctl, const struct desired_model *e,
		double now, struct verify_signed *out, struct ramp_err *err)
{
	struct tuf_trust t;
	const json_t *info = NULL;
	char path[600];
	const char *sha;
	int rc;

	ramp_err_clear(err);
	rc = load(c, &t, err);
	if (rc)
		return named(rc, err);
	rc = refresh(c, ctl, &t, (int64_t)now, err);
	snprintf(path, sizeof(path), "%s/%s/%s/%s", e->model, e->version, e->platform, e->file);
	if (rc == 0)
		rc = find(ctl, &t, path, (int64_t)now, &info, err);
	sha = rc == 0 ? tuf_target_sha256(info) : NULL;
	if (rc == 0 && (sha == NULL || strcmp(sha, e->digest + 7) != 0 ||
			(e->size >= 0 && e->size != tuf_target_length(info))))
		rc = ramp_err_set(err, RAMP_EINVAL, "arbitrary-software",
				  "%s: the desired digest or size is not the one verified targets name",
				  path);
	if (rc == 0) {
		snprintf(out->digest, sizeof(out->digest), "sha256:%s", sha);
		out->size = tuf_target_length(info);
	}
	tuf_trust_free(&t);
	return named(rc, err);
}
