/*
 * store_hawkbit.h - the tables behind the hawkBit DDI surface
 * (schema/006_hawkbit.sql): action numbers, each device's record of its
 * actions, the versions DDI devices say they run, configData receipts and
 * the SHA-1/MD5 of artifacts. Device registration, labels and agent status
 * go through the ordinary store functions (store.h).
 *
 * Every function returns 0 or a negative RAMP_E* code; json_t values
 * returned through out-parameters belong to the caller.
 */
#ifndef RAMP_STORE_HAWKBIT_H
#define RAMP_STORE_HAWKBIT_H

#include "store/store.h"

/*
 * What a poll needs, numbering actions that do not exist yet. want is
 * [{"model","version","rollout_id"}] (borrowed). *out is
 * {"actions": {model: id}, "records": [{"id","model","version","state","left_on"}],
 * "installed": {model: version}, "config_sent": bool}, where "installed"
 * is the DDI report when there is one and otherwise the version ramp's
 * agent status last recorded as installed. RAMP_ENOTFOUND when the device
 * is not registered.
 */
int store_hawkbit_poll(struct db *db, const char *device_id, json_t *want, json_t **out);

/* {"id","rollout_id","model","version"} of an action; RAMP_ENOTFOUND. */
int store_hawkbit_action(struct db *db, int64_t id, json_t **out);

/*
 * Sets the device's record of an action to state ("open", "closed",
 * "canceled", "cancel_rejected") with result (may be NULL). "open" only
 * creates a record or reopens a canceled one: it never undoes a closed
 * action or a refused cancellation. A closed record keeps the version the
 * device is left running (installed_version, else what it ran before).
 * When installed_version is not NULL the device is also noted as running
 * it for model. model (may be NULL for cancellations) also seeds the DDI
 * note of what the device runs from ramp's agent status, once. One
 * transaction.
 */
int store_hawkbit_record(struct db *db, const char *device_id, int64_t action_id,
			 const char *state, const char *result, const char *model,
			 const char *installed_version);

/* The device's own report (PUT installedBase): notes it as running version
 * of model and closes its open actions for that same version. */
int store_hawkbit_installed(struct db *db, const char *device_id, const char *model,
			    const char *version);

/* Notes that the device sent its configData now. */
int store_hawkbit_config_sent(struct db *db, const char *device_id);

/* {"sha1","md5","size"} for digest ("sha256:<hex>"); RAMP_ENOTFOUND. */
int store_hawkbit_hashes_get(struct db *db, const char *digest, json_t **out);
int store_hawkbit_hashes_put(struct db *db, const char *digest, const char *sha1,
			     const char *md5, int64_t size);

#endif
