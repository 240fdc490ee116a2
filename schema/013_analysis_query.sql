-- 013_analysis_query: a gate metric read from Prometheus (issue 20) shows
-- the query it ran, rendered for the rollout, and why it has no value ("no
-- data", the query's error); both stay NULL for ramp's own metrics.

ALTER TABLE rollout_analysis ADD COLUMN query text, ADD COLUMN note text;
