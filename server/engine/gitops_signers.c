/*
 * gitops_signers.c - the commit-signature gate (RAMP_GITOPS_ALLOWED_SIGNERS,
 * an OpenSSH allowed-signers file). libgit2 gives the commit's gpgsig and
 * the exact bytes it signs (git_commit_extract_signature); OpenSSH checks
 * them: `ssh-keygen -Y find-principals` names the signer, `ssh-keygen -Y
 * verify -n git` proves it, as `git verify-commit` does with
 * gpg.format=ssh. OpenPGP signatures are refused (not checked).
 */
#include "engine/gitops_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs argv with in[0..inlen) on stdin, its first output line into out;
 * the exit status, or -1. */
static int run(char *const argv[], const char *in, size_t inlen, char *out, size_t outlen)
{
	int pin[2], pout[2], status = -1;
	pid_t pid;
	size_t got = 0;

	if (pipe2(pin, O_CLOEXEC) != 0)
		return -1;
	if (pipe2(pout, O_CLOEXEC) != 0) {
		close(pin[0]), close(pin[1]);
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(pin[0], 0);
		dup2(pout[1], 1);
		if (null >= 0)
			dup2(null, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pin[0]);
	close(pout[1]);
	if (pid > 0) {
		for (size_t off = 0; off < inlen;) {
			ssize_t w = write(pin[1], in + off, inlen - off);
			if (w <= 0 && errno != EINTR)
				break;
			off += w > 0 ? (size_t)w : 0;
		}
	}
	close(pin[1]);
	for (;;) {
		ssize_t r = read(pout[0], out + got, got + 1 < outlen ? outlen - got - 1 : 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
		if (got + 1 >= outlen) {
			char sink[256];
			while (read(pout[0], sink, sizeof(sink)) > 0)
				;
			break;
		}
	}
	out[got] = '\0';
	out[strcspn(out, "\r\n")] = '\0';
	close(pout[0]);
	if (pid < 0)
		return -1;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int gitops_check_signer(struct gitops *g, const char *commit, char *why, size_t whylen)
{
	char *sig = NULL, *data = NULL, path[] = "/tmp/ramp-gitops-sig-XXXXXX", principal[512];
	const char *allowed = g->app->cfg.gitops_allowed_signers;
	size_t len = 0;
	int fd, rc = gitops_git_signature(g->repo, commit, &sig, &data, &len);

	if (rc == RAMP_ENOTFOUND) {
		snprintf(why, whylen, "commit %s is not signed (RAMP_GITOPS_ALLOWED_SIGNERS is set)",
			 commit);
		return RAMP_EFORBIDDEN;
	}
	if (rc) {
		snprintf(why, whylen, "commit %s: could not read its signature", commit);
		return RAMP_EFORBIDDEN;
	}
	rc = RAMP_EFORBIDDEN;
	if (strncmp(sig, "-----BEGIN SSH SIGNATURE-----", 29) != 0) {
		snprintf(why, whylen,
			 "commit %s is signed with OpenPGP; only SSH signatures are checked", commit);
		goto out;
	}
	if ((fd = mkstemp(path)) < 0) {
		snprintf(why, whylen, "commit %s: could not write its signature", commit);
		goto out;
	}
	if (write(fd, sig, strlen(sig)) == (ssize_t)strlen(sig)) {
		char *find[] = {"ssh-keygen", "-Y", "find-principals", "-f", (char *)allowed, "-s",
				path, NULL};
		if (run(find, NULL, 0, principal, sizeof(principal)) == 0 && principal[0]) {
			char *verify[] = {"ssh-keygen", "-Y", "verify", "-f", (char *)allowed,
					  "-I", principal, "-n", "git", "-s", path, NULL};
			char sink[512];
			if (run(verify, data, len, sink, sizeof(sink)) == 0)
				rc = 0;
		}
	}
	close(fd);
	unlink(path);
	if (rc)
		snprintf(why, whylen, "commit %s is not signed by an allowed signer", commit);
out:
	free(sig);
	free(data);
	return rc;
}
