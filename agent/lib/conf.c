/*
 * conf.c - agent configuration from defaults, a file and the command line.
 */
#include "conf.h"

#include "domain/sig.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int set_token_file(struct conf *c, const char *v, struct ramp_err *err)
{
	char *t = slurp(v, sizeof(c->token) - 1, NULL);
	size_t n;

	if (t == NULL)
		return ramp_err_set(err, RAMP_EINVAL, "token-file", "cannot read token-file %s", v);
	n = strlen(t);
	while (n > 0 && isspace((unsigned char)t[n - 1]))
		t[--n] = 0;
	memcpy(c->token, t, n + 1);
	free(t);
	return 0;
}

/* Applies one key; RAMP_ENOTFOUND for a key this module does not know. */
static int conf_set(struct conf *c, const char *k, const char *v, struct ramp_err *err)
{
	double d;

	if (!strcmp(k, "controller"))
		return set_str(c->controller, sizeof(c->controller), k, v, err);
	if (!strcmp(k, "token"))
		return set_str(c->token, sizeof(c->token), k, v, err);
	if (!strcmp(k, "token-file"))
		return set_token_file(c, v, err);
	if (!strcmp(k, "pubkey"))
		return set_str(c->pubkey_path, sizeof(c->pubkey_path), k, v, err);
	if (!strcmp(k, "platform"))
		return set_str(c->platform, sizeof(c->platform), k, v, err);
	if (!strcmp(k, "cache"))
		return set_str(c->cache_dir, sizeof(c->cache_dir), k, v, err);
	if (!strcmp(k, "name"))
		return set_str(c->model, sizeof(c->model), k, v, err);
	if (!strcmp(k, "model-dir"))
		return set_str(c->model_dir, sizeof(c->model_dir), k, v, err);
	if (!strcmp(k, "reload-cmd"))
		return set_str(c->reload_cmd, sizeof(c->reload_cmd), k, v, err);
	if (!strcmp(k, "poll"))
		return set_num(&c->poll_s, k, v, 0, 86400, err);
	if (!strcmp(k, "telemetry-interval"))
		return set_num(&c->telemetry_s, k, v, 0.05, 86400, err);
	if (!strcmp(k, "max-bytes")) {
		if (set_num(&d, k, v, 1, 1e15, err))
			return err->code;
		c->max_bytes = (int64_t)d;
		return 0;
	}
	return RAMP_ENOTFOUND;
}

static int known_key(const char *k)
{
	static const char *const keys[] = {"controller", "token", "token-file", "pubkey",
					   "platform", "cache", "name", "model-dir", "reload-cmd",
					   "poll", "telemetry-interval", "max-bytes", NULL};
	for (size_t i = 0; keys[i]; i++)
		if (!strcmp(k, keys[i]))
			return 1;
	return 0;
}

int conf_args(int argc, char **argv, int first, struct conf_src *src, char *is_other,
	      struct ramp_err *err)
{

	memset(src, 0, sizeof(*src));
	for (int i = first; i < argc; i += 2) {
		const char *k = argv[i] + 2;
		if (strncmp(argv[i], "--", 2) != 0 || i + 1 >= argc)
			return ramp_err_set(err, RAMP_EINVAL, argv[i], "%s needs a value", argv[i]);
		if (!strcmp(k, "config")) {
			if (set_str(src->config_path, sizeof(src->config_path), k, argv[i + 1], err))
				return err->code;
		} else if (!known_key(k)) {
			if (is_other)
				is_other[i] = 1;
		} else if (src->n < CONF_MAX_PAIRS) {
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

static int finish(struct conf *c, struct ramp_err *err)
{
	struct ramp_err kerr = {0};

	if (!c->controller[0])
		return ramp_err_set(err, RAMP_EINVAL, "controller", "controller is required");
	if (!c->token[0])
		return ramp_err_set(err, RAMP_EINVAL, "token", "token (or token-file) is required");
	if (!c->pubkey_path[0])
		return ramp_err_set(err, RAMP_EINVAL, "pubkey", "pubkey is required");
	if (!c->cache_dir[0] && c->model_dir[0])
		memcpy(c->cache_dir, c->model_dir, sizeof(c->cache_dir));
	if (!c->cache_dir[0])
		return ramp_err_set(err, RAMP_EINVAL, "cache", "cache is required");
	c->pubkey_pem = slurp(c->pubkey_path, SIG_MAX_PEM, &c->pubkey_len);
	if (c->pubkey_pem == NULL)
		return ramp_err_set(err, RAMP_EINVAL, "pubkey", "cannot read pubkey %s",
				    c->pubkey_path);
	if (sig_key_check(c->pubkey_pem, c->pubkey_len, NULL, NULL, &kerr) != 0)
		return ramp_err_set(err, RAMP_EINVAL, "pubkey", "pubkey %s: %s", c->pubkey_path,
				    kerr.msg);
	return 0;
}

int conf_build(const struct conf *defaults, const struct conf_src *src, struct conf *out,
	       struct ramp_err *err)
{
	int rc = 0;

	*out = *defaults;
	out->pubkey_pem = NULL;
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
	free(c->pubkey_pem);
	c->pubkey_pem = NULL;
	c->pubkey_len = 0;
}
