/*
 * serve.c - `ramp-runner --model FILE --listen ADDR`: not built yet; the
 * runner's engine and conformance come first (issue 7).
 */
#include <stdio.h>

int runner_serve_main(int argc, char **argv);

int runner_serve_main(int argc, char **argv)
{
	fprintf(stderr, "ramp-runner: serving is not implemented yet\n");
	return 2;
}
