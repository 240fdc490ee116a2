-- 005_analysis_history: every evaluation of rollout_analysis, kept over
-- time for the dashboard's charts. rollout_analysis holds only the latest
-- value per (stage, metric, arm); a trigger appends each insert and update
-- here, so the engine's writer (store_rollouts.c) needs no change.

CREATE TABLE rollout_analysis_history (
	id         bigserial PRIMARY KEY,
	rollout_id bigint NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
	stage      int NOT NULL,
	metric     text NOT NULL,
	arm        text NOT NULL,
	value      double precision,
	baseline   double precision,
	samples    bigint NOT NULL,
	result     text NOT NULL,
	at         timestamptz NOT NULL
);
CREATE INDEX rollout_analysis_history_metric
	ON rollout_analysis_history (rollout_id, metric, id);

CREATE FUNCTION rollout_analysis_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO rollout_analysis_history (rollout_id, stage, metric, arm, value,
		baseline, samples, result, at)
	VALUES (NEW.rollout_id, NEW.stage, NEW.metric, NEW.arm, NEW.value,
		NEW.baseline, NEW.samples, NEW.result, NEW.at);
	RETURN NULL;
END
$$;

CREATE TRIGGER rollout_analysis_history_append
	AFTER INSERT OR UPDATE ON rollout_analysis
	FOR EACH ROW EXECUTE FUNCTION rollout_analysis_record();
