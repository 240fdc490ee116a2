/*
 * enroll.c - who the device is to the controller: enrollment for a device
 * token (POST /v1/enroll with the enroll token, or with the client
 * certificate alone, whose X.509 common name gives the id to enroll as),
 * the token written 0600 to token-file, and the device id rampd answers
 * polls with, kept in <state-dir>/device.id so telemetry gathered offline
 * after a restart carries it.  Runs on the loop's thread: at start and
 * after each SIGHUP, before the poll.  a->device_id and a->conf.token are
 * written under a->lock, since the telemetry thread reads them.
 */
#include "agent_int.h"

#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Keeps the device id on disk, so telemetry gathered offline after a restart has it. */
void enroll_remember_device(struct agent *a, const char *id)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	FILE *f;

	if (!strcmp(a->device_id, id))
		return;
	pthread_mutex_lock(&a->lock);
	snprintf(a->device_id, sizeof(a->device_id), "%s", id);
	pthread_mutex_unlock(&a->lock);
	snprintf(path, sizeof(path), "%s/device.id", a->conf.state_dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL)
		return;
	fprintf(f, "%s\n", id);
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		unlink(tmp);
}

void enroll_recall_device(struct agent *a)
{
	char path[PATH_MAX], id[129] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/device.id", a->conf.state_dir);
	if ((f = fopen(path, "r")) == NULL)
		return;
	if (fgets(id, sizeof(id), f))
		id[strcspn(id, "\r\n")] = 0;
	fclose(f);
	pthread_mutex_lock(&a->lock);
	snprintf(a->device_id, sizeof(a->device_id), "%s", id);
	pthread_mutex_unlock(&a->lock);
}

/* "k=v,k=v" into a JSON object; NULL when a pair has no '='. */
static json_t *labels_json(const char *text)
{
	char buf[1024], *save = NULL, *p;
	json_t *o = json_object();

	snprintf(buf, sizeof(buf), "%s", text);
	for (p = strtok_r(buf, ",", &save); p && o; p = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(p, '=');
		if (eq == NULL || eq == p) {
			json_decref(o);
			return NULL;
		}
		*eq = 0;
		json_object_set_new(o, p, json_string(eq + 1));
	}
	return o;
}

/* Writes the device token with mode 0600 (a temporary file renamed over it). */
static int write_token(const char *path, const char *token, struct ramp_err *err)
{
	char tmp[PATH_MAX + 8];
	int fd;
	size_t n = strlen(token);

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		return ramp_err_set(err, RAMP_EIO, "token-file", "cannot write %s: %s", tmp,
				    strerror(errno));
	if (write(fd, token, n) != (ssize_t)n || write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
		close(fd);
		unlink(tmp);
		return ramp_err_set(err, RAMP_EIO, "token-file", "cannot write %s", tmp);
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		unlink(tmp);
		return ramp_err_set(err, RAMP_EIO, "token-file", "cannot write %s: %s", path,
				    strerror(errno));
	}
	return 0;
}

/* The common name of the certificate at path into id (the id rampd reads from it); 0 or -1. */
static int cert_cn(const char *path, char *id, size_t cap)
{
	FILE *f = fopen(path, "r");
	X509 *x;
	int n = -1;

	if (f == NULL)
		return -1;
	if ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
		n = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, id, (int)cap);
		X509_free(x);
	}
	fclose(f);
	return n > 0 ? 0 : -1;
}

/* The id to enroll as: device-id, else the certificate's common name, else the host name. */
static void enroll_id(const struct agent *a, char *id, size_t cap)
{
	if (a->conf.device_id[0])
		snprintf(id, cap, "%s", a->conf.device_id);
	else if (a->conf.tls_cert[0] && cert_cn(a->conf.tls_cert, id, cap) == 0)
		;
	else if (gethostname(id, cap) != 0)
		snprintf(id, cap, "device");
	id[cap - 1] = 0;
}

/* Keeps an enrollment's device token: token-file, conf, the loop's client; 0, or -1 (logged). */
static int keep_token(struct agent *a, const char *id, const char *token)
{
	struct ramp_err err = {0};

	if (write_token(a->conf.token_file, token, &err) != 0) {
		log_error("msg=\"enrolled, but the token was not saved\" reason=\"%s\"", err.msg);
		return -1;
	}
	pthread_mutex_lock(&a->lock); /* after SIGHUP the telemetry thread reads conf */
	snprintf(a->conf.token, sizeof(a->conf.token), "%s", token);
	pthread_mutex_unlock(&a->lock);
	snprintf(a->ctl.token, sizeof(a->ctl.token), "%s", token);
	log_info("msg=\"enrolled\" device=%s token_file=%s", id, a->conf.token_file);
	return 0;
}

/*
 * POST /v1/enroll with the enroll token, or with the client certificate
 * alone (rampd lets a certificate enroll the id it names): 0 with the device
 * token in a->conf.token (and on disk), or, for a certificate alone, 0 when
 * the device is registered already (it goes on with the certificate); 1 to
 * try again later; -1 on a refusal that waiting will not change (logged).
 */
static int enroll_once(struct agent *a)
{
	struct ramp_err err = {0};
	struct ctl c;
	char id[129], token[256];
	json_t *body, *labels = labels_json(a->conf.labels), *ans = NULL;
	int st;

	if (labels == NULL) {
		log_error("msg=\"enrollment impossible\" reason=\"labels must be k=v,k=v\"");
		return -1;
	}
	int cert_only = !a->conf.enroll_token[0];

	enroll_id(a, id, sizeof(id));
	body = json_pack("{s:s, s:s, s:o}", "id", id, "platform", a->conf.platform, "labels", labels);
	if (body == NULL || ctl_init(&c, a->conf.controller, a->conf.enroll_token, a->version,
				     &err) != 0) {
		json_decref(body);
		return 1;
	}
	ctl_set_tls(&c, a->conf.tls_cert, a->conf.tls_key, a->conf.tls_ca);
	c.cancel = &a->stop;
	st = ctl_post_answer(&c, "/v1/enroll", body, &ans, &err);
	ctl_free(&c);
	json_decref(body);
	if (st == 201 && json_string_value(json_object_get(ans, "token"))) {
		snprintf(token, sizeof(token), "%s", json_string_value(json_object_get(ans, "token")));
		json_decref(ans);
		return keep_token(a, id, token);
	}
	json_decref(ans);
	if (cert_only && st > 0 && st < 500 && st != 429) {
		/* 409: registered already; otherwise rampd may still take the certificate on its routes */
		if (st == 409)
			log_info("msg=\"registered already: going on with the certificate alone\" device=%s",
				 id);
		else
			log_error("msg=\"enrollment by certificate refused: going on with the certificate "
				  "alone\" device=%s status=%d reason=\"%s\"", id, st, err.msg);
		return 0;
	}
	log_error("msg=\"enrollment failed\" device=%s status=%d reason=\"%s\"", id, st, err.msg);
	return st > 0 && st < 500 && st != 429 ? -1 : 1;
}

/*
 * Enrolls when there is no device token yet, with the enroll token or the
 * client certificate; keeps trying (with backoff) until it is done or stopped.
 */
void enroll_run(struct agent *a)
{
	double delay = a->conf.poll_min_s;
	int rc;

	if (a->conf.token[0] || (!a->conf.enroll_token[0] && !a->conf.tls_cert[0]))
		return;
	while (!a->stop && (rc = enroll_once(a)) != 0) {
		if (rc < 0)
			delay = a->conf.poll_max_s; /* an operator has to act: ask rarely */
		agent__nap(a, agent__jitter(a, delay), 1);
		delay = fmin(delay * 2, a->conf.poll_max_s);
		if (a->reload)
			return;
	}
}
