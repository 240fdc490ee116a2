-- 018_judge: what the sequential judge (docs/judge.md) decided on, kept with
-- the analysis row it decided: the test, its statistic, p-value or
-- likelihood ratio, effect size and interval, and the samples and devices
-- of both arms (NULL for metrics judged by a fixed threshold); and the
-- variant (platform) a row is about when a stage's analysis is split by
-- platform ('' when it is not). The history keeps both, so "why did it roll
-- back?" stays answerable afterwards.
ALTER TABLE rollout_analysis ADD COLUMN judge jsonb;
ALTER TABLE rollout_analysis ADD COLUMN variant text NOT NULL DEFAULT '';
ALTER TABLE rollout_analysis DROP CONSTRAINT rollout_analysis_pkey;
ALTER TABLE rollout_analysis ADD PRIMARY KEY (rollout_id, stage, metric, arm, variant);
ALTER TABLE rollout_analysis_history ADD COLUMN judge jsonb;
ALTER TABLE rollout_analysis_history ADD COLUMN variant text NOT NULL DEFAULT '';

CREATE OR REPLACE FUNCTION rollout_analysis_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO rollout_analysis_history (rollout_id, stage, metric, arm, value,
		baseline, samples, result, at, judge, variant)
	VALUES (NEW.rollout_id, NEW.stage, NEW.metric, NEW.arm, NEW.value,
		NEW.baseline, NEW.samples, NEW.result, NEW.at, NEW.judge, NEW.variant);
	RETURN NULL;
END
$$;
