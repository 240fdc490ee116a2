/*
 * gitops_git.h - the Git side of GitOps, with libgit2: a bare repository
 * of our own under the data directory, fetched from RAMP_GITOPS_REPO
 * (file://, git://, http(s):// with a token, ssh:// with a key), and the
 * blobs of one commit's tree read straight from the object database. There
 * is never a working tree: nothing on disk is followed, so a symlink or a
 * ".." in the repository cannot make us read outside it.
 * Used by the reconciler's thread only (engine/gitops.c).
 */
#ifndef RAMP_GITOPS_GIT_H
#define RAMP_GITOPS_GIT_H

#include "domain/gitops.h"

#include <stdbool.h>
#include <stddef.h>

struct gitops_repo;

struct gitops_remote {
	const char *url, *branch;
	const char *token_file; /* https: the token, sent as the password; "" none */
	const char *ssh_key;    /* ssh: a private key file; "" none */
	/* polled while objects arrive: true gives the fetch up (shutdown) */
	bool (*cancel)(void *ctx);
	void *cancel_ctx;
};

/* The files of one tree: paths and bytes, malloc'd. */
struct gitops_files {
	struct gitops_file *f;
	size_t n;
};

/* Opens (creating) the bare repository at dir. 0, or RAMP_EIO with why. */
int gitops_git_open(const char *dir, struct gitops_repo **out, char *why, size_t whylen);
void gitops_git_close(struct gitops_repo *r);

/*
 * Fetches the branch (forced: a force-push is followed) and sets head (40
 * hex) to it. 0; RAMP_EUNAVAIL with why when the remote could not be
 * fetched (head is then what was fetched last, "" when never).
 */
int gitops_git_fetch(struct gitops_repo *r, const struct gitops_remote *rm, char head[41],
		     char *why, size_t whylen);

/*
 * Reads the regular files under root ("" or "/" for the whole tree; a
 * folder otherwise) of commit into *out, checking each entry with
 * gitops_entry_check before reading it, and refusing more than
 * GITOPS_MAX_FILES. 0, or a RAMP_E* code with err naming the entry.
 */
int gitops_git_files(struct gitops_repo *r, const char *commit, const char *root,
		     struct gitops_files *out, struct gitops_err *err);
void gitops_files_free(struct gitops_files *fs);

/*
 * The commit's signature (gpgsig header: an SSH or OpenPGP armoured
 * signature) and the data it signs, NUL-terminated and malloc'd. 0,
 * RAMP_ENOTFOUND when the commit is not signed, RAMP_EIO.
 */
int gitops_git_signature(struct gitops_repo *r, const char *commit, char **sig,
			 char **data, size_t *datalen);

#endif
