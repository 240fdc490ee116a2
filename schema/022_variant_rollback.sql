-- 022_variant_rollback: `rollback: {per_variant: true}` (docs/judge.md). A
-- rollout keeps the variants (platforms) that failed alone and went back to
-- the baseline while the others went on; a model keeps, per platform, the
-- version its devices stay on when the model's stable version moved on
-- without them (a rollout that succeeded with a variant rolled back). An
-- explicit stable version clears it.
ALTER TABLE rollouts ADD COLUMN variants_rolled_back text[] NOT NULL DEFAULT '{}';
ALTER TABLE models ADD COLUMN stable_by_platform jsonb NOT NULL DEFAULT '{}';
