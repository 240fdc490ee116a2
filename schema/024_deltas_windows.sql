-- 024_deltas_windows: deltas are pruned once nothing needs them, and pairs
-- the builder gave up on are remembered with a retry time (docs/deltas.md);
-- maintenance windows per device label (docs/windows.md).
-- deltas.unneeded_since: when the builder's housekeeping first found the
-- delta's from or to file belonging to no version that is stable or named
-- by an answering rollout (cleared when one is again); the row and its
-- object go RAMP_DELTA_RETENTION after it.
ALTER TABLE deltas ADD COLUMN unneeded_since timestamptz;

-- A pair whose build failed (no gain, over a cap, I/O): not tried again
-- before retry_at; each failure doubles the wait (RAMP_DELTA_RETRY, at
-- most a week). A successful build or upload of the pair removes the row.
CREATE TABLE delta_failures (
	from_digest text NOT NULL,
	to_digest   text NOT NULL,
	reason      text NOT NULL,
	attempts    integer NOT NULL DEFAULT 1,
	failed_at   timestamptz NOT NULL DEFAULT now(),
	retry_at    timestamptz NOT NULL,
	PRIMARY KEY (from_digest, to_digest)
);

-- With a policy's label_windows: the next opening of each group whose held
-- devices wait ({"<ramp.window value>" or "" (the stage's windows): unix s});
-- window_opens_at is then the earliest of them. NULL otherwise.
ALTER TABLE rollouts ADD COLUMN window_opens_by jsonb;
