/*
 * gitops_git.c - libgit2 behind gitops_git.h: fetch into a bare repository
 * of our own, read a commit's blobs from the object database (sizes are
 * read from the object header before any blob is loaded), extract a
 * commit's signature. No working tree is ever written.
 */
#include "engine/gitops_git.h"

#include <git2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gitops_repo {
	git_repository *repo;
	/* made once and reused: libgit2 1.5's git_regexp_match leaks its
	 * pcre2 match data on every non-matching config regex, and creating a
	 * remote runs several (url.*.insteadOf); once per process is bounded */
	git_remote *remote;
};

#define MAX_DEPTH 8

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init(void)
{
	git_libgit2_init();
}

static void why_git(char *why, size_t len, const char *what)
{
	const git_error *e = git_error_last();

	snprintf(why, len, "%s: %s", what, e && e->message ? e->message : "unknown error");
}

int gitops_git_open(const char *dir, struct gitops_repo **out, char *why, size_t whylen)
{
	struct gitops_repo *r;

	pthread_once(&init_once, init);
	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return RAMP_ENOMEM;
	if (git_repository_open_bare(&r->repo, dir) != 0 &&
	    git_repository_init(&r->repo, dir, 1) != 0) {
		why_git(why, whylen, "could not open the local repository");
		free(r);
		return RAMP_EIO;
	}
	*out = r;
	return 0;
}

void gitops_git_close(struct gitops_repo *r)
{
	if (r == NULL)
		return;
	git_remote_free(r->remote);
	git_repository_free(r->repo);
	free(r);
}

struct creds {
	const struct gitops_remote *rm;
	int tries;
};

/* The token file's first line; "" when it cannot be read. */
static void read_token(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	buf[0] = '\0';
	if (f == NULL)
		return;
	if (fgets(buf, (int)len, f) == NULL)
		buf[0] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	fclose(f);
}

static int credentials(git_credential **out, const char *url, const char *user,
		       unsigned int allowed, void *payload)
{
	struct creds *c = payload;
	char token[1024];
	int rc;

	if (c->tries++ > 0)
		return GIT_EAUTH; /* the one we gave was refused: do not loop */
	if ((allowed & GIT_CREDENTIAL_SSH_KEY) && c->rm->ssh_key[0])
		return git_credential_ssh_key_new(out, user ? user : "git", NULL, c->rm->ssh_key,
						  NULL);
	if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) && c->rm->token_file[0]) {
		read_token(c->rm->token_file, token, sizeof(token));
		rc = git_credential_userpass_plaintext_new(out, user ? user : "x-access-token",
							   token);
		memset(token, 0, sizeof(token));
		return rc;
	}
	return GIT_PASSTHROUGH;
}

static int progress(const git_indexer_progress *stats, void *payload)
{
	const struct creds *c = payload;

	return c->rm->cancel && c->rm->cancel(c->rm->cancel_ctx) ? -1 : 0;
}

static int sideband(const char *str, int len, void *payload)
{
	return progress(NULL, payload);
}

static void local_head(git_repository *repo, const char *ref, char head[41])
{
	git_oid oid;

	head[0] = '\0';
	if (git_reference_name_to_id(&oid, repo, ref) == 0)
		git_oid_tostr(head, 41, &oid);
}

int gitops_git_fetch(struct gitops_repo *r, const struct gitops_remote *rm, char head[41],
		     char *why, size_t whylen)
{
	git_fetch_options fo;
	struct creds c = {rm, 0};
	char spec[600], ref[300];
	char *specs[1] = {spec};
	git_strarray arr = {specs, 1};
	int rc = 0;

	git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
	snprintf(ref, sizeof(ref), "refs/remotes/origin/%s", rm->branch);
	snprintf(spec, sizeof(spec), "+refs/heads/%s:%s", rm->branch, ref);
	fo.callbacks.credentials = credentials;
	fo.callbacks.transfer_progress = progress;
	fo.callbacks.sideband_progress = sideband;
	fo.callbacks.payload = &c;
	fo.prune = GIT_FETCH_NO_PRUNE;
	fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	if ((r->remote == NULL && git_remote_create_anonymous(&r->remote, r->repo, rm->url) != 0) ||
	    git_remote_fetch(r->remote, &arr, &fo, "gitops fetch") != 0) {
		why_git(why, whylen, "could not fetch");
		rc = RAMP_EUNAVAIL;
	}
	local_head(r->repo, ref, head);
	if (rc == 0 && head[0] == '\0') {
		snprintf(why, whylen, "could not fetch: the remote has no branch %s", rm->branch);
		rc = RAMP_EUNAVAIL;
	}
	return rc;
}

static int add_file(git_repository *repo, const git_tree_entry *e, const char *path,
		    struct gitops_files *out, struct gitops_err *err)
{
	git_odb *odb = NULL;
	git_blob *blob = NULL;
	git_object_t type;
	size_t size = 0;
	char *copy;
	int rc;

	if (git_repository_odb(&odb, repo) != 0 ||
	    git_odb_read_header(&size, &type, odb, git_tree_entry_id(e)) != 0) {
		git_odb_free(odb);
		snprintf(err->file, sizeof(err->file), "%.250s", path);
		snprintf(err->reason, sizeof(err->reason), "could not read the object");
		return RAMP_EIO;
	}
	git_odb_free(odb);
	rc = gitops_entry_check(path, (unsigned)git_tree_entry_filemode(e), size, err);
	if (rc)
		return rc;
	if (out->n >= GITOPS_MAX_FILES) {
		snprintf(err->file, sizeof(err->file), "%.250s", path);
		snprintf(err->reason, sizeof(err->reason), "more than %d files", GITOPS_MAX_FILES);
		return RAMP_ETOOBIG;
	}
	if (git_blob_lookup(&blob, repo, git_tree_entry_id(e)) != 0)
		return RAMP_EIO;
	size = (size_t)git_blob_rawsize(blob);
	copy = malloc(size + 1);
	out->f[out->n].path = strdup(path);
	if (copy == NULL || out->f[out->n].path == NULL) {
		free(copy);
		free((char *)out->f[out->n].path);
		git_blob_free(blob);
		return RAMP_ENOMEM;
	}
	memcpy(copy, git_blob_rawcontent(blob), size);
	copy[size] = '\0';
	git_blob_free(blob);
	out->f[out->n].data = copy;
	out->f[out->n].len = size;
	out->n++;
	return 0;
}

/* Our folders only: other entries are not read, nor checked. */
static bool ours(const char *top)
{
	static const char *const dirs[] = {"keys", "models", "policies", "cohorts", "releases",
					   NULL};
	for (size_t i = 0; dirs[i]; i++)
		if (strcmp(top, dirs[i]) == 0)
			return true;
	return false;
}

static int walk(git_repository *repo, git_tree *tree, const char *prefix, int depth,
		struct gitops_files *out, struct gitops_err *err)
{
	size_t n = git_tree_entrycount(tree);

	for (size_t i = 0; i < n; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		char path[GITOPS_MAX_PATH * 2];
		int rc;
		snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "/" : "",
			 git_tree_entry_name(e));
		if (depth == 0 && !ours(git_tree_entry_name(e)))
			continue;
		if (git_tree_entry_type(e) == GIT_OBJECT_TREE) {
			git_tree *sub = NULL;
			if (depth >= MAX_DEPTH || (rc = gitops_entry_check(path, 0100644, 0, err)))
				return depth >= MAX_DEPTH ? RAMP_ETOOBIG : rc;
			if (git_tree_lookup(&sub, repo, git_tree_entry_id(e)) != 0)
				return RAMP_EIO;
			rc = walk(repo, sub, path, depth + 1, out, err);
			git_tree_free(sub);
		} else {
			rc = add_file(repo, e, path, out, err);
		}
		if (rc)
			return rc;
	}
	return 0;
}

int gitops_git_files(struct gitops_repo *r, const char *commit, const char *root,
		     struct gitops_files *out, struct gitops_err *err)
{
	git_oid oid;
	git_commit *c = NULL;
	git_tree *tree = NULL, *sub = NULL;
	git_tree_entry *te = NULL;
	int rc = RAMP_EIO;

	memset(out, 0, sizeof(*out));
	memset(err, 0, sizeof(*err));
	while (*root == '/')
		root++;
	out->f = calloc(GITOPS_MAX_FILES + 1, sizeof(*out->f));
	if (out->f == NULL)
		return RAMP_ENOMEM;
	if (git_oid_fromstr(&oid, commit) != 0 || git_commit_lookup(&c, r->repo, &oid) != 0 ||
	    git_commit_tree(&tree, c) != 0)
		goto out;
	if (root[0] && strcmp(root, ".") != 0) {
		char trimmed[512];
		snprintf(trimmed, sizeof(trimmed), "%s", root);
		trimmed[strcspn(trimmed, "\0")] = '\0';
		while (strlen(trimmed) && trimmed[strlen(trimmed) - 1] == '/')
			trimmed[strlen(trimmed) - 1] = '\0';
		if (git_tree_entry_bypath(&te, tree, trimmed) != 0 ||
		    git_tree_entry_type(te) != GIT_OBJECT_TREE ||
		    git_tree_lookup(&sub, r->repo, git_tree_entry_id(te)) != 0) {
			snprintf(err->file, sizeof(err->file), "%.250s", trimmed);
			snprintf(err->reason, sizeof(err->reason),
				 "RAMP_GITOPS_PATH is not a folder of this commit");
			rc = RAMP_EINVAL;
			goto out;
		}
	}
	rc = walk(r->repo, sub ? sub : tree, "", 0, out, err);
out:
	if (rc == RAMP_EIO && err->reason[0] == '\0')
		why_git(err->reason, sizeof(err->reason), "could not read the commit");
	git_tree_entry_free(te);
	git_tree_free(sub);
	git_tree_free(tree);
	git_commit_free(c);
	if (rc)
		gitops_files_free(out);
	return rc;
}

void gitops_files_free(struct gitops_files *fs)
{
	if (fs == NULL || fs->f == NULL)
		return;
	for (size_t i = 0; i < fs->n; i++) {
		free((char *)fs->f[i].path);
		free((char *)fs->f[i].data);
	}
	free(fs->f);
	memset(fs, 0, sizeof(*fs));
}

int gitops_git_signature(struct gitops_repo *r, const char *commit, char **sig, char **data,
			 size_t *datalen)
{
	git_buf s = GIT_BUF_INIT, d = GIT_BUF_INIT;
	git_oid oid;
	int rc;

	*sig = *data = NULL;
	if (git_oid_fromstr(&oid, commit) != 0)
		return RAMP_EIO;
	rc = git_commit_extract_signature(&s, &d, r->repo, &oid, NULL);
	if (rc == GIT_ENOTFOUND)
		return RAMP_ENOTFOUND;
	if (rc != 0)
		return RAMP_EIO;
	*sig = strndup(s.ptr, s.size);
	*data = malloc(d.size + 1);
	if (*data) {
		memcpy(*data, d.ptr, d.size);
		(*data)[d.size] = '\0';
		*datalen = d.size;
	}
	git_buf_dispose(&s);
	git_buf_dispose(&d);
	if (*sig == NULL || *data == NULL) {
		free(*sig);
		free(*data);
		*sig = *data = NULL;
		return RAMP_ENOMEM;
	}
	return 0;
}
