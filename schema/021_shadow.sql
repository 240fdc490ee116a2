-- 021_shadow: shadow runs on the device (docs/judge.md "Shadow runs").
--
-- A telemetry report may carry what its device measured running a
-- candidate version beside the model it serves: the candidate, how many
-- live requests it ran on, how many agreed on the top-1 class, the mean
-- absolute difference of the outputs and of the top-1 confidence, the
-- candidate's p95 latency, and the shadow runs dropped under load. All
-- NULL for a report without one. Partitions made later copy the columns
-- (LIKE telemetry); existing ones get them from the parent.
ALTER TABLE telemetry
	ADD COLUMN shadow_version text,
	ADD COLUMN shadow_requests bigint,
	ADD COLUMN shadow_agree bigint,
	ADD COLUMN shadow_dropped bigint,
	ADD COLUMN shadow_mad double precision,
	ADD COLUMN shadow_conf_shift double precision,
	ADD COLUMN shadow_latency_p95_ms double precision;
