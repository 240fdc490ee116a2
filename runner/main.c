/*
 * main.c - the ramp-runner command line.
 *
 *   ramp-runner ops            list the operators this runner executes
 *   ramp-runner test DIR       run one ONNX backend test directory; exit 0 iff all outputs match
 *   ramp-runner bench FILE [N] batch-1 single-thread latency of FILE (see bench.c)
 *   ramp-runner --model FILE --listen ADDR   serve a local model (see fleet.c)
 *   ramp-runner --controller URL ...         serve what rampd says (see fleet.c)
 */
#include "runner.h"
#include "testdir.h"

#include "common/version.h"

#include <stdio.h>
#include <string.h>

int runner_serve_main(int argc, char **argv);
int runner_bench_main(int argc, char **argv);

static int usage(void)
{
	fprintf(stderr, "usage: ramp-runner --version\n"
			"       ramp-runner ops\n"
			"       ramp-runner test DIR\n"
			"       ramp-runner bench FILE [N]\n"
			"       ramp-runner --model FILE --listen ADDR:PORT\n"
			"       ramp-runner --controller URL --token T --pubkey KEY.pem --listen ADDR:PORT\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--version") == 0)
		return version_print("ramp-runner");
	if (argc == 2 && strcmp(argv[1], "ops") == 0) {
		for (const char *const *o = runner_ops(); *o; o++)
			printf("%s\n", *o);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "test") == 0) {
		char why[512] = "";
		int rc = testdir_run(argv[2], why, sizeof(why));
		if (rc == 0) {
			printf("ok %s\n", argv[2]);
			return 0;
		}
		printf("FAIL %s: %s\n", argv[2], why);
		return 1;
	}
	if ((argc == 3 || argc == 4) && strcmp(argv[1], "bench") == 0)
		return runner_bench_main(argc, argv);
	if (argc > 1 && strncmp(argv[1], "--", 2) == 0)
		return runner_serve_main(argc, argv);
	return usage();
}
