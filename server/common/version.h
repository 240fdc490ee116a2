/*
 * version.h - the version and git commit every binary was built from. The
 * strings live in $(BUILD)/gen/version.c, which the Makefile rewrites only
 * when they change, so a new commit recompiles one small file and relinks.
 */
#ifndef RAMP_VERSION_H
#define RAMP_VERSION_H

#include <stdio.h>

extern const char ramp_version[]; /* "0.3.0", `git describe`, or "unknown" */
extern const char ramp_commit[];  /* short commit hash, or "unknown" */

/* Prints "prog VERSION (commit HASH)" on stdout; answers 0 (an exit status). */
static inline int version_print(const char *prog)
{
	printf("%s %s (commit %s)\n", prog, ramp_version, ramp_commit);
	return fflush(stdout) == 0 ? 0 : 1;
}

#endif
