-- 003_telemetry: device health reports, partitioned by day on ts.
--
-- Daily partitions telemetry_pYYYYMMDD (UTC days) are created ahead by
-- telemetry_ensure_partitions(); reports outside every daily partition
-- (old or odd timestamps) land in telemetry_default. telemetry_maintain()
-- is rampd's hourly housekeeping: partitions ahead, old ones dropped whole,
-- old rows deleted from the default partition.

CREATE TABLE telemetry (
	ts timestamptz NOT NULL, device_id text NOT NULL, model text NOT NULL, version text NOT NULL,
	requests bigint NOT NULL, errors bigint NOT NULL, latency_ms double precision,
	lat_bounds double precision[], lat_counts bigint[], conf_bounds double precision[], conf_counts bigint[],
	cpu_pct double precision, mem_pct double precision, npu_pct double precision, temperature_c double precision,
	disk_free_mb double precision, model_load_ms double precision, confidence_mean double precision,
	exceptions bigint, oom_kills bigint, timeouts bigint,
	received_at timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (ts);
CREATE INDEX ON telemetry (model, version, ts);

CREATE TABLE telemetry_default PARTITION OF telemetry DEFAULT;

-- Creates the partition for one UTC day unless it exists; returns true when
-- it made one. Rows of that day already in the default partition are moved
-- into it, so a day that arrived before its partition does not block it.
CREATE FUNCTION telemetry_create_partition(day date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
	name text := 'telemetry_p' || to_char(day, 'YYYYMMDD');
	lo timestamptz := day::timestamp AT TIME ZONE 'UTC';
	hi timestamptz := (day + 1)::timestamp AT TIME ZONE 'UTC';
BEGIN
	-- replicas run this at the same time; one at a time, then re-check
	PERFORM pg_advisory_xact_lock(hashtext('ramp.telemetry_partitions'));
	IF to_regclass(name) IS NOT NULL THEN
		RETURN false;
	END IF;
	EXECUTE format('CREATE TABLE %I (LIKE telemetry INCLUDING DEFAULTS)', name);
	EXECUTE format('WITH m AS (DELETE FROM telemetry_default WHERE ts >= %L AND ts < %L'
		' RETURNING *) INSERT INTO %I SELECT * FROM m', lo, hi, name);
	EXECUTE format('ALTER TABLE telemetry ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
		name, lo, hi);
	RETURN true;
END
$$;

-- Daily partitions from yesterday to today + days_ahead (UTC); idempotent.
-- Returns how many it created.
CREATE FUNCTION telemetry_ensure_partitions(days_ahead int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
	today date := (now() AT TIME ZONE 'UTC')::date;
	n int := 0;
BEGIN
	FOR i IN -1..days_ahead LOOP
		IF telemetry_create_partition(today + i) THEN
			n := n + 1;
		END IF;
	END LOOP;
	RETURN n;
END
$$;

-- Housekeeping: drops daily partitions that end at or before now - retention,
-- deletes older rows from the default partition, and makes sure partitions
-- exist for the days ahead (never re-creating one retention would drop).
-- Returns {created, dropped, deleted}.
CREATE FUNCTION telemetry_maintain(retention interval, days_ahead int) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
	cutoff timestamptz := now() - retention;
	today date := (now() AT TIME ZONE 'UTC')::date;
	p record;
	created int := 0;
	dropped int := 0;
	deleted bigint;
BEGIN
	FOR p IN
		SELECT c.relname
		FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'telemetry'::regclass
		  AND c.relname ~ '^telemetry_p[0-9]{8}$'
		  AND ((to_date(substr(c.relname, 12), 'YYYYMMDD') + 1)::timestamp
			AT TIME ZONE 'UTC') <= cutoff
		ORDER BY c.relname
	LOOP
		EXECUTE format('DROP TABLE %I', p.relname);
		dropped := dropped + 1;
	END LOOP;
	DELETE FROM telemetry_default WHERE ts < cutoff;
	GET DIAGNOSTICS deleted = ROW_COUNT;
	FOR i IN -1..days_ahead LOOP
		IF ((today + i + 1)::timestamp AT TIME ZONE 'UTC') > cutoff
		   AND telemetry_create_partition(today + i) THEN
			created := created + 1;
		END IF;
	END LOOP;
	RETURN jsonb_build_object('created', created, 'dropped', dropped, 'deleted', deleted);
END
$$;

SELECT telemetry_ensure_partitions(7);
