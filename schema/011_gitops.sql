-- GitOps (docs/gitops.md): the reconciler's status, one row, read by
-- GET /v1/gitops on any replica; and, per model, the release file a
-- rollout was started for, so a rollout that rolled back is not started
-- again until the release file changes (or a retry).
CREATE TABLE gitops_status (
    id         integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    status     jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE gitops_releases (
    model      text PRIMARY KEY,
    digest     text NOT NULL,
    version    text NOT NULL,
    rollout_id bigint,
    commit     text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
