/*
 * conf.h - an agent's configuration: command-line pairs ("--controller URL")
 * over an optional file of "key = value" lines (--config FILE), over
 * defaults.  Re-reading it (SIGHUP) rebuilds it the same way, so the file
 * may change anything the command line did not set.
 *
 * Keys: controller, token, token-file, pubkey, platform, cache, name, poll,
 * telemetry-interval, max-bytes, model-dir, reload-cmd.
 */
#ifndef RAMP_AGENT_CONF_H
#define RAMP_AGENT_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define CONF_MAX_PAIRS 32

struct conf {
	char controller[512];
	char token[256];
	char pubkey_path[512];
	char *pubkey_pem;	/* the key file's contents, read and checked by conf_build */
	size_t pubkey_len;
	char platform[64];	/* "" takes the device's platform as the controller says it */
	char cache_dir[512];
	char model[64];		/* "" serves the first model the controller names */
	double poll_s;		/* 0: the controller's poll_after_s */
	double telemetry_s;
	int64_t max_bytes;	/* largest download when the manifest gives no size */
	char model_dir[512];	/* ramp-agent: where the <model> symlinks live */
	char reload_cmd[1024];	/* ramp-agent: run after each swap */
};

/* The command line's pairs, kept so a reload can apply them again. */
struct conf_src {
	char config_path[512];
	size_t n;
	char *key[CONF_MAX_PAIRS], *val[CONF_MAX_PAIRS];
};

/*
 * Collects "--key value" pairs from argv[first..argc) into *src (values point
 * into argv).  Keys not in the list above are left to the caller: their
 * indexes are returned through is_other (argc entries, may be NULL) and
 * they are skipped.  0, or RAMP_EINVAL naming a key without a value.
 */
int conf_args(int argc, char **argv, int first, struct conf_src *src, char *is_other,
	      struct ramp_err *err);

/*
 * Builds *out: defaults, then src's config file (if any), then src's pairs;
 * reads token-file and pubkey; checks that controller, token and pubkey are
 * set and the key is an ECDSA P-256 or Ed25519 public key.  0 (free with
 * conf_free) or RAMP_EINVAL naming the key, with *out empty.
 */
int conf_build(const struct conf *defaults, const struct conf_src *src, struct conf *out,
	       struct ramp_err *err);

/* Frees what conf_build allocated; a zeroed conf is a no-op. */
void conf_free(struct conf *c);

#endif
