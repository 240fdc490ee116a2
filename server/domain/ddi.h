/*
 * ddi.h - Eclipse hawkBit's Direct Device Integration (DDI) API seen as
 * ramp: which action a poll exposes, what a device's feedback means for
 * ramp's agent status, and the small formats DDI uses (HH:MM:SS sleeps,
 * decimal action ids, the ?c= hash). Pure: values in, values out; the
 * handlers in server/api/hawkbit*.c do the I/O.
 *
 * An action is one (rollout id or 0, model, version) that a device should
 * install; the store numbers them. A device's record of an action is
 * "open" (it started), "closed" (it finished, either way), "canceled" (it
 * confirmed a cancellation) or "cancel_rejected" (it refused one).
 */
#ifndef RAMP_DDI_H
#define RAMP_DDI_H

#include "common/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Action ids stay below 2^31: SWUpdate's suricatta reads them as a C int. */
#define DDI_ACTION_ID_MAX 2147483647LL

enum ddi_execution {
	DDI_EXEC_CLOSED,
	DDI_EXEC_PROCEEDING,
	DDI_EXEC_CANCELED,
	DDI_EXEC_SCHEDULED,
	DDI_EXEC_REJECTED,
	DDI_EXEC_RESUMED,
	DDI_EXEC_DOWNLOADED,
	DDI_EXEC_DOWNLOAD,
};

enum ddi_finished {
	DDI_FIN_SUCCESS,
	DDI_FIN_FAILURE,
	DDI_FIN_NONE,
};

/* A device's feedback on an action (DdiActionFeedback). */
struct ddi_feedback {
	enum ddi_execution execution;
	enum ddi_finished finished;
	char detail[1024]; /* status.details joined with "; ", cut to fit */
};

/*
 * Reads {"status": {"execution", "result": {"finished", "progress"?},
 * "details"?: [strings], "code"?}} and ignores every other field (suricatta
 * sends "id" and "time", newer clients "timestamp"). 0, or RAMP_EINVAL with
 * err naming the field ("status.execution", "status.result.finished", ...).
 */
int ddi_feedback_parse(const json_t *body, struct ddi_feedback *out, struct ramp_err *err);

/* What a deploymentBase feedback means. */
struct ddi_outcome {
	const char *agent_state;  /* ramp's agent state to record, or NULL for none */
	const char *action_state; /* the device's record of the action afterwards */
};

/*
 * closed+success and closed+none -> installed, closed+failure -> failed
 * (the action is closed either way); proceeding, scheduled, resumed and
 * download -> downloading; downloaded -> verifying (those keep it open);
 * canceled records nothing and marks the action canceled; rejected ("not
 * now", in hawkBit's words) records nothing and keeps it open.
 */
void ddi_deploy_outcome(const struct ddi_feedback *f, struct ddi_outcome *out);

/* The record a cancelAction feedback leaves: "canceled" for closed or
 * canceled (unless finished is failure), "cancel_rejected" for rejected or
 * closed+failure, NULL (no change) for intermediate states. */
const char *ddi_cancel_outcome(const struct ddi_feedback *f);

/* One model of a device's desired answer, as the poll weighs it. */
struct ddi_model {
	const char *model, *version;
	int64_t action_id;     /* the action for (rollout, model, version); 0 if none yet */
	const char *installed; /* the version the device reports installed, or NULL */
	bool closed;           /* the device closed this action and runs what it ran then */
};

/* An action the device started and has not finished. */
struct ddi_open {
	int64_t action_id;
	const char *model, *version;
};

enum ddi_next {
	DDI_NOTHING,
	DDI_DEPLOY, /* expose deploymentBase/{action} */
	DDI_CANCEL, /* expose cancelAction/{action} */
};

/*
 * What one poll exposes. A cancellation comes first: the lowest open action
 * whose version is no longer the desired version of its model (a rollback
 * withdrew it). Otherwise the first model, in the order given, whose
 * desired version differs from the installed one: an open action for that
 * very version keeps its number (a rollout that succeeds while a device
 * installs does not restart the install), else the desired action unless
 * it is closed (a failed install is not offered again while the device
 * still runs the version it failed to leave). One action per poll;
 * *action_id is set for DDI_DEPLOY and DDI_CANCEL.
 */
enum ddi_next ddi_plan(const struct ddi_model *m, size_t nm, const struct ddi_open *open,
		       size_t nopen, int64_t *action_id);

/* "HH:MM:SS" for seconds (0 .. 99:59:59, clamped). */
void ddi_sleep_text(int64_t seconds, char out[9]);

/* A decimal action id in 1 .. DDI_ACTION_ID_MAX; 0 or RAMP_EINVAL. */
int ddi_action_id_parse(const char *s, int64_t *out);

/* The ?c= value of a deploymentBase link: a 31-bit hash of the desired
 * answer's ETag and the action, so it changes whenever the answer does. */
uint32_t ddi_c_hash(const char *etag, int64_t action_id);

#endif
