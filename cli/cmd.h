/*
 * cmd.h - what rampctl's commands share: parsed arguments (positionals and
 * --flags in any order), human tables, and the command entry points
 * (rampctl.c dispatches; rollouts.c holds the rollout commands, publish.c
 * keys and manifests).
 */
#ifndef RAMPCTL_CMD_H
#define RAMPCTL_CMD_H

#include "client.h"

#define ARGS_MAX 64

struct args {
	int npos;
	const char *pos[ARGS_MAX];
	int nflags;
	const char *flag[ARGS_MAX]; /* "--model", "-f" */
	const char *val[ARGS_MAX];  /* NULL for booleans */
};

/* The last value of flag (or of its alias, may be NULL); NULL when absent. */
const char *arg_get(const struct args *a, const char *flag, const char *alias);
/* True when a boolean flag was given. */
bool arg_has(const struct args *a, const char *flag);
/* Prints "rampctl: <msg>" and answers EXIT_USAGE. */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A table printed with columns padded to their widest cell. */
struct table {
	int ncols, nrows, cap;
	char **cells; /* nrows * ncols, malloc'd strings */
};
void table_init(struct table *t, int ncols, ...);
/* table_init with the ncols headings in an array. */
void table_init_list(struct table *t, int ncols, const char *const *heads);
void table_row(struct table *t, ...); /* ncols const char * (NULL prints "-") */
void table_print(struct table *t);    /* prints and frees */

/* Prints v as indented JSON on stdout. */
void print_json(json_t *v);
/* The "strata" block of a rollout (strata.c), when it has one. */
void print_strata(json_t *ro);
/* Short text for a JSON scalar ("-" for null/absent) into buf. */
const char *scalar(json_t *v, char *buf, size_t cap);

/* Prints r's JSON (with -o json) or msg (when not NULL); frees r; answers 0. */
int cmd_done(struct client *c, struct resp *r, const char *msg);

/* publish.c */
int cmd_key_add(struct client *c, const struct args *a);
int cmd_manifest_post(struct client *c, const struct args *a);

/* tuf.c: init, delegate, rotate-root, keygen, sign-manifest (docs/tuf.md) */
int cmd_tuf(struct client *c, const char *verb, const struct args *a);
/* gitops.c */
int cmd_gitops_status(struct client *c, const struct args *a);
int cmd_gitops_sync(struct client *c, const struct args *a);
/* Offline: writes M.yaml.sig (and .key_id) beside the manifest. */
int cmd_manifest_sign(const struct args *a);
/* mqtt.c */
int cmd_mqtt_passwd(struct client *c, const struct args *a);
int cmd_mqtt_password(struct client *c, const struct args *a);

/* rollouts.c */
int cmd_rollouts_list(struct client *c, const struct args *a);
int cmd_rollout_get(struct client *c, const struct args *a);
int cmd_rollout_create(struct client *c, const struct args *a);
int cmd_rollout_verb(struct client *c, const char *verb, const struct args *a);
int cmd_rollout_watch(struct client *c, const struct args *a);

#endif
