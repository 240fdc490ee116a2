/*
 * client.c - rampctl's HTTP glue over libcurl: configuration lookup, one
 * reused connection, response capture and problem+json error lines.
 */
#include "client.h"

#include "common/buf.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_SERVER "http://127.0.0.1:8080"
#define MAX_RESPONSE (64 * 1024 * 1024)

static void copy(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* ~/.config/ramp/config: "server = URL" and "token = T" lines, # comments. */
static void read_config(char *server, size_t scap, char *token, size_t tcap)
{
	const char *home = getenv("HOME"), *xdg = getenv("XDG_CONFIG_HOME");
	char path[1024], line[1024];
	FILE *f;

	if (xdg && *xdg)
		snprintf(path, sizeof(path), "%s/ramp/config", xdg);
	else if (home && *home)
		snprintf(path, sizeof(path), "%s/.config/ramp/config", home);
	else
		return;
	if ((f = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *eq = strchr(line, '='), *k, *v;
		if (line[0] == '#' || eq == NULL)
			continue;
		*eq = '\0';
		k = trim(line);
		v = trim(eq + 1);
		if ((strcmp(k, "server") == 0 || strcmp(k, "url") == 0) && server[0] == '\0')
			copy(server, scap, v);
		else if (strcmp(k, "token") == 0 && token[0] == '\0')
			copy(token, tcap, v);
	}
	fclose(f);
}

/* True for http(s)://127.x, localhost or [::1]: a server on this machine. */
static bool is_loopback(const char *url)
{
	const char *h = strstr(url, "://");

	if (h == NULL)
		return false;
	h += 3;
	return strncmp(h, "127.", 4) == 0 || strncmp(h, "[::1]", 5) == 0 ||
	       (strncmp(h, "localhost", 9) == 0 && strchr(":/", h[9]) != NULL);
}

/* The admin token a local rampd wrote (make run: ./var/admin.token), for a
 * server on this machine when no token was given; never sent elsewhere. */
static void read_local_admin_token(struct client *c)
{
	const char *dir = getenv("RAMP_DATA_DIR");
	char line[512];
	FILE *f;

	snprintf(c->token_file, sizeof(c->token_file), "%s/admin.token", dir && *dir ? dir : "./var");
	if (!is_loopback(c->server) || (f = fopen(c->token_file, "r")) == NULL) {
		c->token_file[0] = '\0';
		return;
	}
	if (fgets(line, sizeof(line), f))
		copy(c->token, sizeof(c->token), trim(line));
	fclose(f);
	if (c->token[0] == '\0')
		c->token_file[0] = '\0';
}

int client_init(struct client *c, const char *server, const char *token)
{
	const char *env;
	size_t n;

	memset(c, 0, sizeof(*c));
	if (server)
		copy(c->server, sizeof(c->server), server);
	else if ((env = getenv("RAMP_SERVER")) && *env)
		copy(c->server, sizeof(c->server), env);
	else if ((env = getenv("RAMP_URL")) && *env)
		copy(c->server, sizeof(c->server), env);
	if (token)
		copy(c->token, sizeof(c->token), token);
	else if ((env = getenv("RAMP_TOKEN")) && *env)
		copy(c->token, sizeof(c->token), env);
	read_config(c->server, sizeof(c->server), c->token, sizeof(c->token));
	if (c->server[0] == '\0')
		copy(c->server, sizeof(c->server), DEFAULT_SERVER);
	n = strlen(c->server);
	while (n > 0 && c->server[n - 1] == '/')
		c->server[--n] = '\0';
	if (c->token[0] == '\0')
		read_local_admin_token(c);
	if (strncmp(c->server, "http://", 7) && strncmp(c->server, "https://", 8)) {
		fprintf(stderr, "rampctl: server must be an http:// or https:// URL, not \"%s\"\n",
			c->server);
		return EXIT_USAGE;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || (c->curl = curl_easy_init()) == NULL) {
		fprintf(stderr, "rampctl: could not initialise libcurl\n");
		return EXIT_LOCAL;
	}
	return 0;
}

void client_close(struct client *c)
{
	if (c->curl)
		curl_easy_cleanup(c->curl);
	c->curl = NULL;
	curl_global_cleanup();
}

/* Appends a chunk; 0 (stopping the transfer or read) once the buffer's
 * cap (MAX_RESPONSE) is passed or memory runs out. */
static size_t on_data(char *data, size_t size, size_t n, void *ud)
{
	return buf_append(ud, data, size * n) == 0 ? size * n : 0;
}

/* Runs the prepared handle and fills *r. */
static int perform(struct client *c, const char *method, const char *path, struct curl_slist *h,
		   struct resp *r)
{
	CURL *cu = c->curl;
	struct buf b = {.max = MAX_RESPONSE - 1};
	char url[4096], auth[600];
	CURLcode rc;

	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "%s%s", c->server, path);
	if (c->token[0]) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->token);
		h = curl_slist_append(h, auth);
	}
	h = curl_slist_append(h, "Accept: application/json, application/problem+json");
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(cu, CURLOPT_URL, url);
	curl_easy_setopt(cu, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(cu, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(cu, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(cu, CURLOPT_USERAGENT, "rampctl/1");
	curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(cu, CURLOPT_TIMEOUT, 300L);
	curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
	rc = curl_easy_perform(cu);
	curl_slist_free_all(h);
	if (rc != CURLE_OK) {
		fprintf(stderr, "rampctl: cannot reach %s: %s\n", c->server, curl_easy_strerror(rc));
		free(b.p);
		return EXIT_SERVER;
	}
	curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &r->status);
	r->body = b.p ? b.p : calloc(1, 1);
	r->len = b.len;
	if (r->len)
		r->json = json_loadb(r->body, r->len, JSON_DECODE_ANY, NULL);
	return 0;
}

int client_call(struct client *c, const char *method, const char *path, const char *ctype,
		const char *body, size_t len, struct resp *r)
{
	struct curl_slist *h = NULL;
	char ct[160];

	curl_easy_reset(c->curl);
	if (body) {
		snprintf(ct, sizeof(ct), "Content-Type: %s", ctype ? ctype : "application/json");
		h = curl_slist_append(h, ct);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	} else if (strcmp(method, "GET") && strcmp(method, "DELETE")) {
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
	}
	return perform(c, method, path, h, r);
}

int client_put_file(struct client *c, const char *path, const char *file, struct resp *r)
{
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/octet-stream");
	struct stat st;
	FILE *f = fopen(file, "rb");
	int rc;

	if (f == NULL || fstat(fileno(f), &st) != 0) {
		fprintf(stderr, "rampctl: cannot read %s: %s\n", file, strerror(errno));
		if (f)
			fclose(f);
		curl_slist_free_all(h);
		return EXIT_LOCAL;
	}
	curl_easy_reset(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c->curl, CURLOPT_READDATA, f);
	curl_easy_setopt(c->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)st.st_size);
	rc = perform(c, "PUT", path, h, r);
	fclose(f);
	return rc;
}

/* After a 401: where the token came from, or where to get one. */
static void token_hint(const struct client *c)
{
	const char *dir = getenv("RAMP_DATA_DIR");

	if (c->token_file[0])
		fprintf(stderr, "rampctl: the token was read from %s (the admin token of a local "
				"rampd); set RAMP_TOKEN or --token for another\n",
			c->token_file);
	else if (c->token[0] == '\0')
		fprintf(stderr, "rampctl: no token: set RAMP_TOKEN or --token (or \"token = ...\" in "
				"~/.config/ramp/config); the admin token of a local rampd is in "
				"%s/admin.token\n",
			dir && *dir ? dir : "./var");
}

int client_problem(const struct client *c, const struct resp *r)
{
	const char *title = json_string_value(json_object_get(r->json, "title"));
	const char *detail = json_string_value(json_object_get(r->json, "detail"));
	const char *field = json_string_value(json_object_get(r->json, "field"));

	if (detail == NULL) {
		size_t n = r->len > 200 ? 200 : r->len;
		fprintf(stderr, "rampctl: server answered %ld: %.*s\n", r->status, (int)n,
			r->body ? r->body : "");
	} else {
		fprintf(stderr, "rampctl: %ld %s: %s", r->status, title ? title : "error", detail);
		if (field && *field)
			fprintf(stderr, " (field %s)", field);
		fputc('\n', stderr);
	}
	if (r->status == 401)
		token_hint(c);
	return r->status >= 400 && r->status < 500 ? EXIT_REFUSED : EXIT_SERVER;
}

int client_json(struct client *c, const char *method, const char *path, json_t *body,
		struct resp *r)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	int rc;

	if (body && text == NULL)
		return EXIT_LOCAL;
	rc = client_call(c, method, path, "application/json", text, text ? strlen(text) : 0, r);
	free(text);
	if (rc)
		return rc;
	if (r->status >= 200 && r->status < 300)
		return 0;
	rc = client_problem(c, r);
	resp_free(r);
	return rc;
}

void resp_free(struct resp *r)
{
	free(r->body);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

char *read_file(const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	struct buf b = {.max = MAX_RESPONSE - 1};
	char chunk[8192];
	size_t n;

	if (f == NULL)
		return NULL;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (on_data(chunk, 1, n, &b) != n) {
			free(b.p);
			b.p = NULL;
			errno = EFBIG;
			break;
		}
	}
	if (f != stdin)
		fclose(f);
	if (b.p == NULL && errno != EFBIG)
		b.p = calloc(1, 1);
	if (len)
		*len = b.len;
	return b.p;
}

char *url_escape(struct client *c, const char *s)
{
	char *e = curl_easy_escape(c->curl, s, 0), *out;

	if (e == NULL)
		return NULL;
	out = strdup(e);
	curl_free(e);
	return out;
}
