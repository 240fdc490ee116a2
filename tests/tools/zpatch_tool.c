/*
 * zpatch_tool.c - the delta code (common/zpatch) from the command line, for
 * tests and benchmarks: build a delta exactly as rampd does, or apply one
 * exactly as ramp-agent does, and print what it took.
 *
 *   zpatch-tool make OLD NEW DELTA [LEVEL [WINDOW_LOG_MAX]]
 *   zpatch-tool apply OLD DELTA OUT [WINDOW_LOG_MAX]
 * Prints one JSON line: sizes, window log, seconds (CPU and wall), sha256.
 */
#include "common/zpatch.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(clockid_t c)
{
	struct timespec t;
	clock_gettime(c, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct ramp_err err = {0};
	double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
	int rc, fd;

	if (argc >= 5 && strcmp(argv[1], "make") == 0) {
		struct zpatch_make_opts o = {argc > 5 ? atoi(argv[5]) : 19,
					     argc > 6 ? atoi(argv[6]) : 30, (int64_t)1 << 40};
		struct zpatch_stats st;
		if ((fd = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
			return 2;
		rc = zpatch_make(argv[2], argv[3], fd, &o, &st, &err);
		close(fd);
		printf("{\"rc\": %d, \"error\": \"%s\", \"old\": %lld, \"new\": %lld, \"delta\": %lld,"
		       " \"window_log\": %d, \"cpu_s\": %.4f, \"wall_s\": %.4f}\n", rc, err.msg,
		       (long long)st.old_size, (long long)st.new_size, (long long)st.delta_size,
		       st.window_log, now(CLOCK_PROCESS_CPUTIME_ID) - c0, now(CLOCK_MONOTONIC) - w0);
		return rc ? 1 : 0;
	}
	if (argc >= 5 && strcmp(argv[1], "apply") == 0) {
		struct zpatch_apply_result r;
		int in = open(argv[3], O_RDONLY), out = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (in < 0 || out < 0)
			return 2;
		rc = zpatch_apply(argv[2], in, out, argc > 5 ? atoi(argv[5]) : 30, (int64_t)1 << 40, &r,
				  &err);
		close(in);
		close(out);
		printf("{\"rc\": %d, \"error\": \"%s\", \"out\": %lld, \"sha256\": \"%s\","
		       " \"cpu_s\": %.4f, \"wall_s\": %.4f}\n", rc, err.msg, (long long)r.out_size,
		       r.sha256, now(CLOCK_PROCESS_CPUTIME_ID) - c0, now(CLOCK_MONOTONIC) - w0);
		return rc ? 1 : 0;
	}
	fprintf(stderr, "usage: zpatch-tool make OLD NEW DELTA [LEVEL [WLOG]] | apply OLD DELTA OUT [WLOG]\n");
	return 2;
}
