/*
 * conf.c - agent configuration from defaults, a file and the command line.
 */
#include "conf.h"

#include "domain/sig.h"

#include <ctype.h>
#include <stddef.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads a whole small file into a malloc'd NUL-terminated buffer; NULL on failure. */
static char *slurp(const char *path, size_t max, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (f == NULL)
		return NULL;
	buf = malloc(max + 1);
	n = buf ? fread(buf, 1, max + 1, f) : 0;
	fclose(f);
	if (buf == NULL || n > max) {
		free(buf);
		return NULL;
	}
	buf[n] = 0;
	if (len)
		*len = n;
	return buf;
}

static int set_str(char *dst, size_t cap, const char *key, const char *v, struct ramp_err *err)
{
	if (strlen(v) >= cap)
		return ramp_err_set(err, RAMP_EINVAL, key, "%s is longer than %zu bytes", key,
				    cap - 1);
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

static int set_num(double *dst, const char *key, const char *v, double lo, double hi,
		   struct ramp_err *err)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(v, &end);
	if (errno || end == v || *end || !(d >= lo && d <= hi))
		return ramp_err_set(err, RAMP_EINVAL, key, "%s must be a number from %g to %g", key,
				    lo, hi);
	*dst = d;
	return 0;
}

/* Reads a secret from a file into dst (trailing white space trimmed). */
static int set_from_file(char *dst, size_t cap, const char *key, const char *path,
			 struct ramp_err *err)
{
	char *t = slurp(path, cap - 1, NULL);
	size_t n;

	if (t == NULL)
		return ramp_err_set(err, RAMP_EINVAL, key, "cannot read %s %s", key, path);
	n = strlen(t);
	while (n > 0 && isspace((unsigned char)t[n - 1]))
		t[--n] = 0;
	memcpy(dst, t, n + 1);
	free(t);
	return 0;
}

#define STR(name, field) {name, offsetof(struct conf, field), sizeof(((struct conf *)0)->field), 0, 0, 0}
#define NUM(name, field, lo, hi) {name, offsetof(struct conf, field), 0, 1, lo, hi}

/* The keys: strings are copied, numbers range-checked. */
static const struct key {
	const char *name;
	size_t off, cap;
	int is_num;
	double lo, hi;
} keys[] = {
	STR("controller", controller),
	STR("state-dir", state_dir),
	STR("token", token),
	STR("token-file", token_file),
	STR("enroll-token", enroll_token),
	STR("device-id", device_id),
	STR("labels", labels),
	STR("cert", tls_cert),
	STR("key", tls_key),
	STR("ca", tls_ca),
	STR("pubkey", pubkey_path),
	STR("platform", platform),
	STR("model-dir", model_dir),
	STR("cache", model_dir),
	STR("name", model),
	STR("telemetry-socket", telemetry_socket),
	STR("reload-cmd", reload_cmd),
	STR("reload-signal", reload_signal),
	STR("reload-pidfile", reload_pidfile),
	STR("health-cmd", health_cmd),
	STR("health-url", health_url),
	STR("tuf", tuf),
	STR("tuf-root", tuf_root),
	STR("update-lock", update_lock),
	NUM("poll", poll_s, 0, 86400),
	NUM("poll-min", poll_min_s, 0.01, 86400),
	NUM("poll-max", poll_max_s, 0.01, 86400),
	NUM("telemetry-interval", telemetry_s, 0.05, 86400),
	NUM("telemetry-buffer", telemetry_buffer, 1, 10000000),
	NUM("min-free-mb", min_free_mb, 0, 1e9),
	NUM("health-timeout", health_timeout_s, 0.1, 86400),
	NUM("max-defer", max_defer_s, 0, 30 * 86400),
	NUM("no-delta", no_delta, 0, 1),
	NUM("delta-window-log", delta_window_log, 10, 31),
	STR("mqtt-url", mqtt_url),
	STR("mqtt-username", mqtt_username),
	STR("mqtt-password", mqtt_password),
	NUM("mqtt-poll", mqtt_poll_s, 0.05, 86400),
	{"mqtt-password-file", 0, 0, 4, 0, 0},
	{"enroll-token-file", 0, 0, 2, 0, 0},
	{"max-bytes", 0, 0, 3, 0, 0},
	{NULL, 0, 0, 0, 0, 0},
};

static const struct key *key_named(const char *k)
{
	for (size_t i = 0; keys[i].name; i++)
		if (!strcmp(k, keys[i].name))
			return &keys[i];
	return NULL;
}

/* Applies one key; RAMP_ENOTFOUND for a key this module does not know. */
static int conf_set(struct conf *c, const char *k, const char *v, struct ramp_err *err)
{
	const struct key *key = key_named(k);
	double d;

	if (key == NULL)
		return RAMP_ENOTFOUND;
	if (key->is_num == 0)
		return set_str((char *)c + key->off, key->cap, k, v, err);
	if (key->is_num == 1)
		return set_num((double *)(void *)((char *)c + key->off), k, v, key->lo, key->hi, err);
	if (key->is_num == 2)
		return set_from_file(c->enroll_token, sizeof(c->enroll_token), k, v, err);
	if (key->is_num == 4)
		return set_from_file(c->mqtt_password, sizeof(c->mqtt_password), k, v, err);
	if (set_num(&d, k, v, 1, 1e15, err))
		return err->code;
	c->max_bytes = (int64_t)d;
	return 0;
}

static int known_key(const char *k)
{
	return key_named(k) != NULL;
}

int conf_args(int argc, char **argv, int first, struct conf_src *src, char *is_other,
	      struct ramp_err *err)
{

	memset(src, 0, sizeof(*src));
	for (int i = first; i < argc; i += 2) {
		const char *k = argv[i] + 2;
		if (strncmp(argv[i], "--", 2) != 0)
			return ramp_err_set(err, RAMP_EINVAL, argv[i], "unexpected argument %s", argv[i]);
		if (i + 1 >= argc)
			return ramp_err_set(err, RAMP_EINVAL, argv[i], "%s needs a value", argv[i]);
		if (!strcmp(k, "config")) {
			if (set_str(src->config_path, sizeof(src->config_path), k, argv[i + 1], err))
				return err->code;
		} else if (!known_key(k)) {
			if (is_other)
				is_other[i] = 1;
		} else if (src->n == CONF_MAX_PAIRS) {
			return ramp_err_set(err, RAMP_EINVAL, argv[i], "more than %d options",
					    CONF_MAX_PAIRS);
		} else {
			src->key[src->n] = (char *)k;
			src->val[src->n++] = argv[i + 1];
		}
	}
	return 0;
}

/* Applies the "key = value" (or "key value") lines of path; # starts a comment. */
static int load_file(struct conf *c, const char *path, struct ramp_err *err)
{
	char *text = slurp(path, 64 * 1024, NULL), *save = NULL, *line;
	int no = 0, rc = 0;

	if (text == NULL)
		return ramp_err_set(err, RAMP_EINVAL, "config", "cannot read config %s", path);
	for (line = strtok_r(text, "\n", &save); line && !rc; line = strtok_r(NULL, "\n", &save)) {
		char *k = line, *v, *end;
		no++;
		while (isspace((unsigned char)*k))
			k++;
		if (*k == '#' || *k == 0)
			continue;
		for (v = k; *v && !isspace((unsigned char)*v) && *v != '='; v++)
			;
		end = v;
		while (isspace((unsigned char)*v) || *v == '=')
			v++;
		*end = 0;
		for (end = v + strlen(v); end > v && isspace((unsigned char)end[-1]); end--)
			end[-1] = 0;
		rc = conf_set(c, k, v, err);
		if (rc == RAMP_ENOTFOUND)
			rc = ramp_err_set(err, RAMP_EINVAL, k, "%s line %d: unknown key %s", path, no, k);
	}
	free(text);
	return rc;
}

/* Reads and checks the comma-separated key files of c->pubkey_path. */
static int read_keys(struct conf *c, struct ramp_err *err)
{
	char list[sizeof(c->pubkey_path)], *save = NULL, *p;

	memcpy(list, c->pubkey_path, sizeof(list));
	for (p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		struct ramp_err kerr = {0};
		size_t n = 0;
		char *pem;
		while (isspace((unsigned char)*p))
			p++;
		for (char *e = p + strlen(p); e > p && isspace((unsigned char)e[-1]); e--)
			e[-1] = 0;
		if (!*p)
			continue;
		if (c->npubkeys == CONF_MAX_KEYS)
			return ramp_err_set(err, RAMP_EINVAL, "pubkey", "at most %d pubkey files",
					    CONF_MAX_KEYS);
		if ((pem = slurp(p, SIG_MAX_PEM, &n)) == NULL)
			return ramp_err_set(err, RAMP_EINVAL, "pubkey", "cannot read pubkey %s", p);
		c->pubkey_pem[c->npubkeys] = pem;
		c->pubkey_len[c->npubkeys++] = n;
		if (sig_key_check(pem, n, NULL, NULL, &kerr) != 0)
			return ramp_err_set(err, RAMP_EINVAL, "pubkey", "pubkey %s: %s", p, kerr.msg);
	}
	if (c->npubkeys == 0)
		return ramp_err_set(err, RAMP_EINVAL, "pubkey", "pubkey is required");
	return 0;
}

/* Joins dir and name into dst (cap bytes); RAMP_EINVAL naming key when it does not fit. */
static int join(char *dst, size_t cap, const char *dir, const char *name, const char *key,
		struct ramp_err *err)
{
	if ((size_t)snprintf(dst, cap, "%s/%s", dir, name) >= cap)
		return ramp_err_set(err, RAMP_EINVAL, key, "%s is too long", key);
	return 0;
}

static int finish(struct conf *c, struct ramp_err *err)
{
	char dir[sizeof(c->state_dir)];

	if (!c->controller[0])
		return ramp_err_set(err, RAMP_EINVAL, "controller", "controller is required");
	if (!c->model_dir[0] && !c->state_dir[0])
		return ramp_err_set(err, RAMP_EINVAL, "model-dir", "model-dir (or state-dir) is required");
	if (!c->model_dir[0] && join(c->model_dir, sizeof(c->model_dir), c->state_dir, "models",
				     "model-dir", err))
		return err->code;
	if (!c->state_dir[0]) {
		memcpy(dir, c->model_dir, sizeof(dir));
		if (join(c->state_dir, sizeof(c->state_dir), dir, ".ramp", "state-dir", err))
			return err->code;
	}
	if (!c->token_file[0] && join(c->token_file, sizeof(c->token_file), c->state_dir,
				      "device.token", "token-file", err))
		return err->code;
	if (!c->token[0] && access(c->token_file, F_OK) == 0 &&
	    set_from_file(c->token, sizeof(c->token), "token-file", c->token_file, err))
		return err->code;
	if (!c->token[0] && !c->enroll_token[0] && !c->tls_cert[0])
		return ramp_err_set(err, RAMP_EINVAL, "token",
				    "a device token is required: token, token-file (%s), "
				    "enroll-token or cert", c->token_file);
	if (!c->tls_cert[0] != !c->tls_key[0])
		return ramp_err_set(err, RAMP_EINVAL, c->tls_cert[0] ? "key" : "cert",
				    "cert and key go together");
	if (c->poll_min_s <= 0)
		c->poll_min_s = 1;
	if (c->poll_max_s <= 0)
		c->poll_max_s = 300;
	if (c->poll_max_s < c->poll_min_s)
		return ramp_err_set(err, RAMP_EINVAL, "poll-max", "poll-max is below poll-min");
	if (c->telemetry_s <= 0)
		c->telemetry_s = 30;
	if (c->mqtt_poll_s <= 0)
		c->mqtt_poll_s = 900;
	if (c->mqtt_url[0] && strncmp(c->mqtt_url, "mqtt://", 7) && strncmp(c->mqtt_url, "mqtts://", 8))
		return ramp_err_set(err, RAMP_EINVAL, "mqtt-url", "mqtt-url must be mqtt:// or mqtts://");
	if (c->telemetry_buffer <= 0)
		c->telemetry_buffer = 10000;
	if (c->max_bytes <= 0)
		c->max_bytes = (int64_t)4 << 30;
	if (c->delta_window_log <= 0)
		c->delta_window_log = 28;
	if (!c->reload_signal[0])
		memcpy(c->reload_signal, "HUP", 4);
	if (c->health_timeout_s <= 0)
		c->health_timeout_s = 30;
	if (c->tuf[0] && strcmp(c->tuf, "on") && strcmp(c->tuf, "off") && strcmp(c->tuf, "auto"))
		return ramp_err_set(err, RAMP_EINVAL, "tuf", "tuf is on, off or auto");
	if (c->max_defer_s <= 0)
		c->max_defer_s = 3600;
	return read_keys(c, err);
}

int conf_build(const struct conf *defaults, const struct conf_src *src, struct conf *out,
	       struct ramp_err *err)
{
	int rc = 0;

	*out = *defaults;
	out->npubkeys = 0;
	memset(out->pubkey_pem, 0, sizeof(out->pubkey_pem));
	if (src->config_path[0])
		rc = load_file(out, src->config_path, err);
	for (size_t i = 0; rc == 0 && i < src->n; i++)
		rc = conf_set(out, src->key[i], src->val[i], err);
	if (rc == 0)
		rc = finish(out, err);
	if (rc)
		conf_free(out);
	return rc;
}

void conf_free(struct conf *c)
{
	for (size_t i = 0; i < c->npubkeys; i++)
		free(c->pubkey_pem[i]);
	memset(c->pubkey_pem, 0, sizeof(c->pubkey_pem));
	c->npubkeys = 0;
}
