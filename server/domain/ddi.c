/*
 * ddi.c - hawkBit DDI semantics: feedback parsing and mapping, the poll's
 * choice of action, and DDI's small formats. See ddi.h.
 */
#include "domain/ddi.h"

#include "common/hash.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const executions[] = {"closed",   "proceeding", "canceled",   "scheduled",
					 "rejected", "resumed",    "downloaded", "download"};
static const char *const finisheds[] = {"success", "failure", "none"};

static int lookup(const char *s, const char *const *names, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return (int)i;
	return -1;
}

/* Appends status.details (strings only) to out, "; " between them. */
static void join_details(const json_t *details, char *out, size_t len)
{
	size_t used = 0, i;
	const json_t *d;

	out[0] = '\0';
	if (!json_is_array(details))
		return;
	json_array_foreach(details, i, d) {
		const char *s = json_string_value(d);
		int n;
		if (s == NULL || *s == '\0')
			continue;
		n = snprintf(out + used, len - used, "%s%s", used ? "; " : "", s);
		if (n < 0 || (size_t)n >= len - used) {
			out[len - 1] = '\0';
			return;
		}
		used += (size_t)n;
	}
}

int ddi_feedback_parse(const json_t *body, struct ddi_feedback *out, struct ramp_err *err)
{
	const json_t *status, *result, *details;
	int e, f;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(body))
		return ramp_err_set(err, RAMP_EINVAL, NULL, "feedback must be an object");
	status = json_object_get(body, "status");
	if (!json_is_object(status))
		return ramp_err_set(err, RAMP_EINVAL, "status", "status is required (an object)");
	e = lookup(json_string_value(json_object_get(status, "execution")), executions,
		   sizeof(executions) / sizeof(executions[0]));
	if (e < 0)
		return ramp_err_set(err, RAMP_EINVAL, "status.execution",
				    "execution must be closed, proceeding, canceled, scheduled, "
				    "rejected, resumed, downloaded or download");
	result = json_object_get(status, "result");
	if (!json_is_object(result))
		return ramp_err_set(err, RAMP_EINVAL, "status.result",
				    "result is required (an object with finished)");
	f = lookup(json_string_value(json_object_get(result, "finished")), finisheds,
		   sizeof(finisheds) / sizeof(finisheds[0]));
	if (f < 0)
		return ramp_err_set(err, RAMP_EINVAL, "status.result.finished",
				    "finished must be success, failure or none");
	details = json_object_get(status, "details");
	if (details && !json_is_array(details) && !json_is_null(details))
		return ramp_err_set(err, RAMP_EINVAL, "status.details",
				    "details must be an array of strings");
	out->execution = (enum ddi_execution)e;
	out->finished = (enum ddi_finished)f;
	join_details(details, out->detail, sizeof(out->detail));
	return 0;
}

void ddi_deploy_outcome(const struct ddi_feedback *f, struct ddi_outcome *out)
{
	out->agent_state = NULL;
	out->action_state = "open";
	switch (f->execution) {
	case DDI_EXEC_CLOSED:
		out->agent_state = f->finished == DDI_FIN_FAILURE ? "failed" : "installed";
		out->action_state = "closed";
		break;
	case DDI_EXEC_CANCELED:
		out->action_state = "canceled";
		break;
	case DDI_EXEC_REJECTED:
		break;
	case DDI_EXEC_DOWNLOADED:
		out->agent_state = "verifying";
		break;
	case DDI_EXEC_PROCEEDING:
	case DDI_EXEC_SCHEDULED:
	case DDI_EXEC_RESUMED:
	case DDI_EXEC_DOWNLOAD:
		out->agent_state = "downloading";
		break;
	}
}

const char *ddi_cancel_outcome(const struct ddi_feedback *f)
{
	switch (f->execution) {
	case DDI_EXEC_CLOSED:
	case DDI_EXEC_CANCELED:
		return f->finished == DDI_FIN_FAILURE ? "cancel_rejected" : "canceled";
	case DDI_EXEC_REJECTED:
		return "cancel_rejected";
	default:
		return NULL;
	}
}

/* The desired version of model, or NULL when the model is no longer desired. */
static const char *desired_version(const struct ddi_model *m, size_t nm, const char *model)
{
	for (size_t i = 0; i < nm; i++)
		if (strcmp(m[i].model, model) == 0)
			return m[i].version;
	return NULL;
}

/* The lowest open action for model at version, or 0. */
static int64_t open_for(const struct ddi_open *open, size_t nopen, const char *model,
			const char *version)
{
	int64_t id = 0;

	for (size_t i = 0; i < nopen; i++)
		if (strcmp(open[i].model, model) == 0 && strcmp(open[i].version, version) == 0 &&
		    (id == 0 || open[i].action_id < id))
			id = open[i].action_id;
	return id;
}

enum ddi_next ddi_plan(const struct ddi_model *m, size_t nm, const struct ddi_open *open,
		       size_t nopen, int64_t *action_id)
{
	int64_t cancel = 0, id;

	for (size_t i = 0; i < nopen; i++) {
		const char *want = desired_version(m, nm, open[i].model);
		if (want && strcmp(want, open[i].version) == 0)
			continue;
		if (cancel == 0 || open[i].action_id < cancel)
			cancel = open[i].action_id;
	}
	if (cancel) {
		*action_id = cancel;
		return DDI_CANCEL;
	}
	for (size_t i = 0; i < nm; i++) {
		if (m[i].installed && strcmp(m[i].installed, m[i].version) == 0)
			continue;
		id = open_for(open, nopen, m[i].model, m[i].version);
		if (id == 0 && (m[i].action_id <= 0 || m[i].closed))
			continue;
		*action_id = id ? id : m[i].action_id;
		return DDI_DEPLOY;
	}
	return DDI_NOTHING;
}

void ddi_sleep_text(int64_t seconds, char out[9])
{
	if (seconds < 0)
		seconds = 0;
	if (seconds > 99 * 3600 + 59 * 60 + 59)
		seconds = 99 * 3600 + 59 * 60 + 59;
	snprintf(out, 9, "%02d:%02d:%02d", (int)(seconds / 3600), (int)(seconds / 60 % 60),
		 (int)(seconds % 60));
}

int ddi_action_id_parse(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (s == NULL || *s < '1' || *s > '9' || strlen(s) > 10)
		return RAMP_EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < 1 || v > DDI_ACTION_ID_MAX)
		return RAMP_EINVAL;
	*out = v;
	return 0;
}

uint32_t ddi_c_hash(const char *etag, int64_t action_id)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), ":%lld", (long long)action_id);
	/* on the wire (the action URLs devices hold): the V0 basis, unchanged */
	uint64_t h = hash_fnv1a_str(HASH_FNV1A_BASIS_V0, etag ? etag : "");

	h = hash_fnv1a(h, buf, n > 0 ? (size_t)n : 0);
	return (uint32_t)((h ^ (h >> 32)) & 0x7fffffffU);
}
