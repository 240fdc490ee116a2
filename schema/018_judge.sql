-- 018_judge: what the sequential judge (docs/judge.md) decided on, kept with
-- the analysis row it decided: the test, its statistic, p-value or
-- likelihood ratio, effect size and interval, and the samples and devices
-- of both arms. NULL for metrics judged by a fixed threshold. The history
-- keeps it too, so "why did it roll back?" stays answerable afterwards.
ALTER TABLE rollout_analysis ADD COLUMN judge jsonb;
ALTER TABLE rollout_analysis_history ADD COLUMN judge jsonb;

CREATE OR REPLACE FUNCTION rollout_analysis_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO rollout_analysis_history (rollout_id, stage, metric, arm, value,
		baseline, samples, result, at, judge)
	VALUES (NEW.rollout_id, NEW.stage, NEW.metric, NEW.arm, NEW.value,
		NEW.baseline, NEW.samples, NEW.result, NEW.at, NEW.judge);
	RETURN NULL;
END
$$;
