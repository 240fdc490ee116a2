-- 017_windows: maintenance windows (docs/windows.md). A device a stage takes
-- while the stage's windows are closed joins the rollout "held": it keeps
-- its previous answer until a window opens and the engine releases it
-- (held = false). rollouts.window_opens_at is the next opening the held
-- devices are told (next_window_at); for a rollback that respects windows
-- (state rolled_back) it is when the rollout's devices return to the
-- previous version, and NULL once they have.
ALTER TABLE rollout_devices ADD COLUMN held boolean NOT NULL DEFAULT false;
CREATE INDEX rollout_devices_held ON rollout_devices (rollout_id) WHERE held;
ALTER TABLE rollouts ADD COLUMN window_opens_at timestamptz;
CREATE INDEX rollouts_reverting ON rollouts (window_opens_at)
	WHERE state = 'rolled_back' AND window_opens_at IS NOT NULL;
