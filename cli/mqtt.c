/*
 * mqtt.c - `rampctl mqtt passwd` and `rampctl mqtt password` (docs/mqtt.md):
 * broker credentials for enrolled devices without a table of passwords.
 *
 * A device's MQTT password is derived from a secret only the operator
 * holds: base64url(HMAC-SHA256(secret, "ramp-mqtt-v1:" + device id)), no
 * padding. `mqtt passwd` lists the enrolled devices and writes mosquitto's
 * password file, one "id:$7$<iterations>$<salt>$<hash>" line each (the
 * PBKDF2-SHA512 format of mosquitto_passwd 2.0: 12 random salt bytes, a
 * 64-byte hash, both in standard base64), plus rampd's own line from the
 * file rampd reads (RAMP_MQTT_PASSWORD_FILE). `mqtt password ID` prints one
 * device's password, to provision it (agent.conf `mqtt-password`).
 */
#include "cmd.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MQTT_PW_ITERATIONS 101 /* mosquitto_passwd's default */

/* The secret's bytes (a trailing newline dropped); NULL after printing why. */
static char *read_secret(const char *path, size_t *len)
{
	FILE *f = path ? fopen(path, "rb") : NULL;
	char *s = malloc(4097);
	size_t n = 0;

	if (f == NULL || s == NULL) {
		fprintf(stderr, "rampctl: cannot read the secret file %s\n", path ? path : "(none)");
		if (f)
			fclose(f);
		free(s);
		return NULL;
	}
	n = fread(s, 1, 4096, f);
	fclose(f);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;
	if (n < 16) {
		fprintf(stderr, "rampctl: the secret in %s is shorter than 16 bytes\n", path);
		free(s);
		return NULL;
	}
	*len = n;
	return s;
}

static void b64(const unsigned char *in, int n, char *out, bool url)
{
	int len = EVP_EncodeBlock((unsigned char *)out, in, n);

	if (!url)
		return;
	for (int i = 0; i < len; i++)
		out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
	while (len > 0 && out[len - 1] == '=')
		out[--len] = '\0';
}

/* A device's password (44 bytes with the NUL). */
static void device_password(const char *secret, size_t slen, const char *id, char out[48])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	char msg[300];
	int n = snprintf(msg, sizeof(msg), "ramp-mqtt-v1:%s", id);

	HMAC(EVP_sha256(), secret, (int)slen, (const unsigned char *)msg, n, md, &mdlen);
	b64(md, 32, out, true);
}

/* "user:$7$it$salt$hash\n" for password; false when no random bytes. */
static bool passwd_line(FILE *out, const char *user, const char *password, int iterations)
{
	unsigned char salt[12], hash[64];
	char s64[24], h64[100];

	if (RAND_bytes(salt, sizeof(salt)) != 1 ||
	    PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, sizeof(salt), iterations,
			      EVP_sha512(), sizeof(hash), hash) != 1)
		return false;
	b64(salt, sizeof(salt), s64, false);
	b64(hash, sizeof(hash), h64, false);
	fprintf(out, "%s:$7$%d$%s$%s\n", user, iterations, s64, h64);
	return true;
}

int cmd_mqtt_password(struct client *c, const struct args *a)
{
	size_t slen;
	char *secret, pw[48];

	(void)c;
	if (a->npos < 1)
		return usage_error("mqtt password needs a device ID and --secret FILE");
	if ((secret = read_secret(arg_get(a, "--secret", NULL), &slen)) == NULL)
		return EXIT_LOCAL;
	device_password(secret, slen, a->pos[0], pw);
	free(secret);
	printf("%s\n", pw);
	return 0;
}

/* rampd's own "user:password" line, hashed, from the file rampd reads. */
static bool rampd_line(FILE *out, const char *path, int iterations)
{
	char line[600], *colon;
	FILE *f = fopen(path, "r");
	bool ok;

	if (f == NULL || fgets(line, sizeof(line), f) == NULL) {
		fprintf(stderr, "rampctl: cannot read %s\n", path);
		if (f)
			fclose(f);
		return false;
	}
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	if ((colon = strchr(line, ':')) == NULL || colon == line) {
		fprintf(stderr, "rampctl: %s must hold username:password\n", path);
		return false;
	}
	*colon = '\0';
	ok = passwd_line(out, line, colon + 1, iterations);
	return ok;
}

int cmd_mqtt_passwd(struct client *c, const struct args *a)
{
	const char *outp = arg_get(a, "-f", "--file"), *rampd = arg_get(a, "--rampd", NULL);
	const char *it = arg_get(a, "--iterations", NULL);
	int iterations = it ? atoi(it) : MQTT_PW_ITERATIONS, rc = 0;
	size_t slen, count = 0;
	char *secret, *next = NULL, url[2048], tmp[4200];
	FILE *out = stdout;

	if (iterations < 1)
		return usage_error("--iterations must be a positive number");
	if ((secret = read_secret(arg_get(a, "--secret", NULL), &slen)) == NULL)
		return EXIT_LOCAL;
	if (outp) {
		snprintf(tmp, sizeof(tmp), "%s.tmp", outp);
		if ((out = fopen(tmp, "w")) == NULL) {
			fprintf(stderr, "rampctl: cannot write %s\n", tmp);
			free(secret);
			return EXIT_LOCAL;
		}
	}
	if (rampd && !rampd_line(out, rampd, iterations))
		rc = EXIT_LOCAL;
	do {
		struct resp r;
		json_t *item;
		size_t i;
		if (rc)
			break;
		snprintf(url, sizeof(url), "/v1/devices?limit=1000%s%s", next ? "&after=" : "",
			 next ? next : "");
		free(next);
		next = NULL;
		if ((rc = client_json(c, "GET", url, NULL, &r)) != 0)
			break;
		json_array_foreach(json_object_get(r.json, "items"), i, item) {
			const char *id = json_string_value(json_object_get(item, "id"));
			char pw[48];
			if (id == NULL)
				continue;
			device_password(secret, slen, id, pw);
			if (!passwd_line(out, id, pw, iterations)) {
				rc = EXIT_LOCAL;
				break;
			}
			count++;
		}
		if (json_is_string(json_object_get(r.json, "next")))
			next = strdup(json_string_value(json_object_get(r.json, "next")));
		resp_free(&r);
	} while (next);
	free(next);
	free(secret);
	if (outp) {
		if (fclose(out) != 0 && rc == 0)
			rc = EXIT_LOCAL;
		if (rc == 0 && rename(tmp, outp) != 0) {
			fprintf(stderr, "rampctl: cannot write %s\n", outp);
			rc = EXIT_LOCAL;
		}
		if (rc)
			remove(tmp);
		else
			fprintf(stderr, "rampctl: %zu devices%s written to %s\n", count,
				rampd ? " and rampd" : "", outp);
	}
	return rc;
}
