/*
 * windows.c - the "windows" block of a rollout in the API (docs/windows.md,
 * docs/api.md): for the dashboard and rampctl, each stage's window specs,
 * the devices waiting for their window and when the next one opens.
 */
#include "api/windows.h"

#include "domain/window.h"
#include "store/store_windows.h"
#include "store/tzdb.h"

#include <string.h>
#include <time.h>

static json_t *rfc3339(int64_t t)
{
	char b[32];

	window_rfc3339(t, b, sizeof(b));
	return json_string(b);
}

int api_rollout_windows(struct req *r, int64_t id, json_t *out)
{
	json_t *spec = json_object_get(out, "policy_spec");
	json_t *stages = json_object_get(spec, "stages"), *st, *counts = NULL, *w, *per;
	int idx = (int)json_integer_value(json_object_get(json_object_get(out, "stage"), "index"));
	const char *state = json_string_value(json_object_get(out, "state"));
	struct window_list wl;
	struct ramp_err err;
	int64_t open, close, now = (int64_t)time(NULL), at;
	size_t i;
	int rc = store_rollout_window_counts(r->app->db, id, &counts);

	if (rc) {
		json_decref(counts);
		return rc;
	}
	per = json_array();
	json_array_foreach(stages, i, st) {
		json_t *ws = json_object_get(st, "windows");
		json_array_append_new(per, ws ? json_incref(ws) : json_array());
	}
	w = json_pack("{s:o, s:O, s:b, s:O}", "stages", per, "waiting",
		      json_object_get(counts, "held"), "rollback_respects_windows",
		      json_is_true(json_object_get(spec, "rollback_respects_windows")), "next_window_at",
		      json_null());
	at = json_integer_value(json_object_get(counts, "next_window_at"));
	if (w && at > 0) /* told to held devices, or when a rollback reaches its devices */
		json_object_set_new(w, "next_window_at", rfc3339(at));
	else if (w && state && strcmp(state, "rolled_back") != 0 &&
		 window_list_from_json(json_object_get(json_array_get(stages, (size_t)idx), "windows"),
				       "windows", &wl, &err) == 0 &&
		 wl.n > 0 && window_next(&wl, tzdb_resolve, NULL, now, &open, &close) == 0) {
		json_object_set_new(w, "next_window_at", rfc3339(open > now ? open : now));
		json_object_set_new(w, "open_now", json_boolean(open <= now));
		json_object_set_new(w, "closes_at", rfc3339(close));
	}
	if (w && json_object_get(spec, "label_windows")) { /* per ramp.window label */
		const char *g;
		json_t *v, *by = json_object();
		json_object_set(w, "labels", json_object_get(spec, "label_windows"));
		json_object_foreach(json_object_get(counts, "opens_by"), g, v)
			json_object_set_new(by, g, rfc3339(json_integer_value(v)));
		json_object_set_new(w, "next_window_by", by);
	}
	/* deferred by the device's own update lock: shown, never a failure */
	json_object_set(json_object_get(out, "devices"), "deferred", json_object_get(counts, "deferred"));
	json_decref(counts);
	if (w == NULL || json_object_set_new(out, "windows", w) != 0)
		return RAMP_ENOMEM;
	return 0;
}
