/*
 * unit.h - the unit-test harness: an explicit list of cases per file, each
 * case run in its own forked process (a crash fails one case, not the file),
 * and a last line "N passed, N failed" that tests/run.py sums up.
 *
 *   static void selector_parses_equality(void) { CHECK(...); CHECK_EQ_INT(a, b); }
 *   static const struct unit_case cases[] = { UNIT(selector_parses_equality), {0} };
 *   UNIT_MAIN(cases)
 */
#ifndef RAMP_UNIT_H
#define RAMP_UNIT_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct unit_case {
	const char *name;
	void (*fn)(void);
};

#define UNIT(fn) {#fn, fn}

static int unit_failures_;

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "  %s:%d: check failed: %s\n",        \
				__FILE__, __LINE__, #cond);                    \
			unit_failures_++;                                      \
		}                                                              \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                     \
	do {                                                                   \
		long long a_ = (long long)(a), b_ = (long long)(b);            \
		if (a_ != b_) {                                                \
			fprintf(stderr, "  %s:%d: %s == %s: %lld != %lld\n",  \
				__FILE__, __LINE__, #a, #b, a_, b_);           \
			unit_failures_++;                                      \
		}                                                              \
	} while (0)

#define CHECK_EQ_STR(a, b)                                                     \
	do {                                                                   \
		const char *a_ = (a), *b_ = (b);                               \
		if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0) {         \
			fprintf(stderr, "  %s:%d: %s == %s: \"%s\" != \"%s\"\n", \
				__FILE__, __LINE__, #a, #b, a_ ? a_ : "(null)", \
				b_ ? b_ : "(null)");                           \
			unit_failures_++;                                      \
		}                                                              \
	} while (0)

#define CHECK_NEAR(a, b, eps)                                                  \
	do {                                                                   \
		double a_ = (a), b_ = (b);                                     \
		if (!(fabs(a_ - b_) <= (eps))) {                               \
			fprintf(stderr, "  %s:%d: %s ~= %s: %.9g != %.9g\n",  \
				__FILE__, __LINE__, #a, #b, a_, b_);           \
			unit_failures_++;                                      \
		}                                                              \
	} while (0)

static int unit_run_one_(const struct unit_case *c)
{
	pid_t pid;
	int status = 0;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		alarm(60);
		c->fn();
		fflush(stderr);
		exit(unit_failures_ ? 1 : 0);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	if (WIFSIGNALED(status))
		fprintf(stderr, "  %s: killed by signal %d\n", c->name,
			WTERMSIG(status));
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static inline int unit_main_(const struct unit_case *cases, int argc,
			     char **argv)
{
	int passed = 0, failed = 0;

	for (const struct unit_case *c = cases; c->name; c++) {
		if (argc > 1 && strstr(c->name, argv[1]) == NULL)
			continue;
		if (unit_run_one_(c) == 0) {
			printf("ok %s\n", c->name);
			passed++;
		} else {
			printf("FAIL %s\n", c->name);
			failed++;
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

#define UNIT_MAIN(cases)                                                       \
	int main(int argc, char **argv)                                        \
	{                                                                      \
		return unit_main_(cases, argc, argv);                          \
	}

#endif
