/*
 * client.h - rampctl's side of the HTTP API: where the server is and which
 * token to send (flags, then RAMP_SERVER/RAMP_URL and RAMP_TOKEN, then
 * ~/.config/ramp/config, then - for a server on this machine only - a local
 * rampd's ./var/admin.token), one libcurl handle reused across requests, and the
 * exit codes every command shares (documented in docs/rampctl.md).
 */
#ifndef RAMPCTL_CLIENT_H
#define RAMPCTL_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum {
	EXIT_OK = 0,
	EXIT_ROLLOUT_FAILED = 1, /* watch: the rollout ended rolled_back or aborted */
	EXIT_USAGE = 2,
	EXIT_REFUSED = 3, /* the server answered 4xx */
	EXIT_SERVER = 4,  /* unreachable, or 5xx */
	EXIT_LOCAL = 5,   /* a local file could not be read, or signing failed */
	EXIT_TIMEOUT = 6, /* watch: --timeout passed first */
};

struct client {
	char server[1024]; /* base URL without a trailing slash */
	char token[512];
	char token_file[1024]; /* the local admin token file the token came from, or "" */
	void *curl;        /* CURL * */
	bool json_out;     /* -o json */
	bool id_out;       /* -o id: rollout create prints the new id alone */
};

struct resp {
	long status;
	char *body; /* NUL-terminated, malloc'd; may be empty */
	size_t len;
	json_t *json; /* parsed body, or NULL */
};

/* Fills c from flags (NULL when absent), the environment and the config
 * file. 0, or EXIT_USAGE with a message on stderr. */
int client_init(struct client *c, const char *server, const char *token);
void client_close(struct client *c);

/* Sends method path with an optional body (ctype names it). 0 with *r filled
 * (caller resp_free()s) whatever the status, or EXIT_SERVER when the server
 * could not be reached (message printed). */
int client_call(struct client *c, const char *method, const char *path, const char *ctype,
		const char *body, size_t len, struct resp *r);
/* Uploads a file as the body of a PUT (artifacts); same contract. */
int client_put_file(struct client *c, const char *path, const char *file, struct resp *r);
/* client_call with a JSON body (may be NULL), answering the exit code: 0 on a
 * 2xx with *r filled (caller resp_free()s); else the server's problem+json
 * detail is printed as one line, *r is freed, and EXIT_REFUSED (4xx) or
 * EXIT_SERVER (5xx, unreachable) returned. */
int client_json(struct client *c, const char *method, const char *path, json_t *body,
		struct resp *r);
/* Prints r's problem (status, title, detail, field) as one line on stderr
 * (after a 401, a second line: where the token came from or where to get
 * one); answers EXIT_REFUSED or EXIT_SERVER. */
int client_problem(const struct client *c, const struct resp *r);
void resp_free(struct resp *r);

/* Reads a whole file into a NUL-terminated malloc'd buffer; NULL (errno set). */
char *read_file(const char *path, size_t *len);
/* Percent-encodes s for a query string into a malloc'd string. */
char *url_escape(struct client *c, const char *s);

#endif
