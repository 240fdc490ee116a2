/*
 * scratch.h - a fresh temporary directory per test case for the agent's
 * unit tests, removed whole afterwards.  One at a time: scratch() makes it,
 * scratch_done() removes it and everything below it.
 */
#ifndef RAMP_TESTS_AGENT_SCRATCH_H
#define RAMP_TESTS_AGENT_SCRATCH_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static char tmpdir[64];

/* Makes /tmp/ramp-<stem>-XXXXXX and returns its path (exits on failure). */
static inline const char *scratch(const char *stem)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ramp-%s-XXXXXX", stem);
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	return tmpdir;
}

static inline int scratch_rm_one(const char *path, const struct stat *st, int flag,
				 struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Removes the directory scratch() made, with everything in it. */
static inline void scratch_done(void)
{
	nftw(tmpdir, scratch_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
