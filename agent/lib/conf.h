/*
 * conf.h - an agent's configuration: command-line pairs ("--controller URL")
 * over an optional file of "key = value" lines (--config FILE), over
 * defaults.  Re-reading it (SIGHUP) rebuilds it the same way, so the file
 * may change anything the command line did not set.
 *
 * Keys (docs/agent.md has the table): controller, state-dir, token,
 * token-file, enroll-token, enroll-token-file, device-id, labels, cert, key,
 * ca, pubkey, platform, model-dir (or cache), name, poll, poll-min, poll-max,
 * telemetry-interval, telemetry-socket, telemetry-buffer, min-free-mb,
 * max-bytes, reload-cmd, reload-signal, reload-pidfile, health-cmd,
 * health-url, health-timeout, tuf, tuf-root, update-lock, max-defer.
 */
#ifndef RAMP_AGENT_CONF_H
#define RAMP_AGENT_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define CONF_MAX_PAIRS 48
#define CONF_MAX_KEYS 8

struct conf {
	char controller[512];
	char state_dir[512];	/* the agent's own files; "" is <model_dir>/.ramp */
	char token[256];
	char token_file[512];	/* read when token is unset; written by enrollment */
	char enroll_token[256];	/* with no device token: POST /v1/enroll once */
	char device_id[129];	/* id to enroll as ("" is the host name) */
	char labels[1024];	/* "k=v,k=v" to enroll with */
	char tls_cert[512], tls_key[512], tls_ca[512]; /* client certificate, its key, CA bundle */
	char pubkey_path[2048];	/* comma-separated PEM files */
	char *pubkey_pem[CONF_MAX_KEYS]; /* their contents, read and checked by conf_build */
	size_t pubkey_len[CONF_MAX_KEYS];
	size_t npubkeys;
	char platform[64];	/* "" takes the device's platform as the controller says it */
	char model_dir[512];	/* the model store root (agent/lib/store.h); key model-dir or cache */
	char model[64];		/* "" serves the first model the controller names */
	double poll_s;		/* fixed interval; 0: the controller's poll_after_s, clamped */
	double poll_min_s, poll_max_s; /* the clamp, and the offline backoff's range */
	double telemetry_s;
	char telemetry_socket[108]; /* Unix socket for inference lines (agent/lib/infer.h) */
	double telemetry_buffer; /* most reports kept on disk while offline */
	double min_free_mb;	/* disk that must stay free after a download (the binary's default) */
	int64_t max_bytes;	/* largest download when the manifest gives no size */
	double no_delta;	/* 1: never use a delta the controller offers */
	double delta_window_log; /* the largest window a delta may need (memory: 2^this) */
	char reload_cmd[1024];	/* ramp-agent: run after each swap */
	char reload_signal[16];	/* ramp-agent: ...or this signal to reload_pidfile's process */
	char reload_pidfile[512];
	char health_cmd[1024];	/* ramp-agent: after the reload, until it exits 0... */
	char health_url[512];	/* ...or this URL answers 2xx... */
	double health_timeout_s; /* ...within this many seconds */
	char tuf[8];		/* "on", "off", or ""/"auto": on once a root is pinned (tufc.h) */
	char tuf_root[512];	/* the root.json pinned at first start (docs/tuf.md) */
	char update_lock[512];	/* consent (docs/windows.md): while this file exists, installs wait... */
	double max_defer_s;	/* ...at most this long per version (default 3600 s), then go ahead */
	/* MQTT mode (docs/mqtt.md): desired state pushed, telemetry published */
	char mqtt_url[512];	/* mqtt://host:port or mqtts://; "" polls only */
	char mqtt_username[129]; /* "" is the device id */
	char mqtt_password[256];
	double mqtt_poll_s;	/* the HTTP poll while MQTT is up: a slow fallback */
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
 * fills the derived defaults (model-dir <state-dir>/models, state-dir
 * <model-dir>/.ramp, token-file <state-dir>/device.token, poll bounds 1 and
 * 300 s, telemetry-buffer 10000, reload-signal HUP,
 * health-timeout 30 s); reads the token file when no token is set and the
 * pubkey files; checks that controller, a credential (token, enroll-token or
 * cert) and pubkey are set and every key is an ECDSA P-256 or Ed25519 public
 * key.  0 (free with
 * conf_free) or RAMP_EINVAL naming the key, with *out empty.
 */
int conf_build(const struct conf *defaults, const struct conf_src *src, struct conf *out,
	       struct ramp_err *err);

/* Frees what conf_build allocated; a zeroed conf is a no-op. */
void conf_free(struct conf *c);

#endif
