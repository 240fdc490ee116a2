-- 010_device_model_status: a device's record keeps, per model, more than the
-- last report: when the current state began ("since"), the last failure's
-- reason ("detail", "detail_at", kept through later downloading/verifying
-- reports of the same version and cleared when it is installed) and how
-- many failed reports that version has had in a row ("failures"). From
-- those a device is "stuck" on a model (docs/api.md): downloading or
-- verifying for longer than stuck_after_s, or failures >= 3.
-- Entries written before this migration lack the new keys; the functions
-- read them with defaults (since = at, failures = 0), so nothing is rewritten.

-- The models entry after a report of (v, st, det) on top of old (NULL: none).
CREATE FUNCTION device_model_report(old jsonb, v text, st text, det text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	same boolean := old IS NOT NULL AND old->>'version' = v;
	fails int := CASE WHEN same THEN coalesce((old->>'failures')::int, 0) ELSE 0 END;
	d jsonb := CASE WHEN same THEN old->'detail' END;
	d_at jsonb := CASE WHEN same THEN old->'detail_at' END;
	since jsonb := to_jsonb(now());
BEGIN
	IF st = 'failed' THEN
		fails := fails + 1;
		d := to_jsonb(det);
		d_at := to_jsonb(now());
	ELSIF st = 'installed' THEN
		fails := 0;
		d := NULL;
		d_at := NULL;
	END IF;
	IF same AND old->>'state' = st THEN
		since := coalesce(old->'since', old->'at', since);
	END IF;
	RETURN jsonb_build_object('version', v, 'state', st, 'at', now(), 'since', since,
		'detail', d, 'detail_at', d_at, 'failures', fails);
END
$$;

CREATE FUNCTION device_model_stuck(m jsonb, stuck_after_s int) RETURNS boolean
LANGUAGE sql STABLE AS $$
	SELECT coalesce((m->>'failures')::int, 0) >= 3
	    OR coalesce(m->>'state' IN ('downloading', 'verifying')
	                AND coalesce(m->>'since', m->>'at')::timestamptz
	                    < now() - make_interval(secs => stuck_after_s), false)
$$;

-- devices.models as the API shows it: every key present, plus "stuck".
CREATE FUNCTION device_models_shown(models jsonb, stuck_after_s int) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT coalesce(jsonb_object_agg(e.k,
		jsonb_build_object('detail', NULL, 'detail_at', NULL, 'failures', 0,
		                   'since', e.v->'at')
		|| e.v || jsonb_build_object('stuck', device_model_stuck(e.v, stuck_after_s))),
		'{}'::jsonb)
	FROM jsonb_each(models) AS e(k, v)
$$;

CREATE FUNCTION device_stuck(models jsonb, stuck_after_s int) RETURNS boolean
LANGUAGE sql STABLE AS $$
	SELECT EXISTS (SELECT 1 FROM jsonb_each(models) AS e(k, v)
	               WHERE device_model_stuck(e.v, stuck_after_s))
$$;
