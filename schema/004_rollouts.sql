-- 004_rollouts: policies, rollouts, sticky stage membership, events,
-- analysis, and what agents report about their installs.

CREATE TABLE policies (
	name       text PRIMARY KEY,
	doc        jsonb NOT NULL,          -- canonical form (policy_to_json)
	source     text NOT NULL,           -- as the operator wrote it
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE rollouts (
	id               bigserial PRIMARY KEY,
	model            text NOT NULL,
	version          text NOT NULL,
	baseline_version text,
	policy_name      text,
	policy           jsonb NOT NULL,    -- the copy this rollout runs under
	selector         text NOT NULL DEFAULT '',
	state            text NOT NULL,
	stage            int NOT NULL DEFAULT 0,
	stage_started_at timestamptz NOT NULL,
	window_ends_at   timestamptz NOT NULL,
	failing          int NOT NULL DEFAULT 0,
	paused_at        timestamptz,
	extensions       int NOT NULL DEFAULT 0,
	baseline_values  jsonb NOT NULL DEFAULT '{}',
	target_count     int NOT NULL DEFAULT 0,
	last_evaluated_at timestamptz,
	rev              bigint NOT NULL DEFAULT 0, -- optimistic guard for transitions
	created_by       text NOT NULL,
	created_at       timestamptz NOT NULL DEFAULT now(),
	updated_at       timestamptz NOT NULL DEFAULT now(),
	finished_at      timestamptz
);
CREATE UNIQUE INDEX rollouts_one_active ON rollouts (model)
	WHERE state IN ('progressing', 'paused', 'awaiting_approval');
CREATE INDEX rollouts_state ON rollouts (state);

-- Sticky membership: a device joins at the first stage that takes it and
-- stays; later stages only add.
CREATE TABLE rollout_devices (
	rollout_id  bigint NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
	device_id   text NOT NULL,
	stage       int NOT NULL,
	assigned_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (rollout_id, device_id)
);

CREATE TABLE rollout_events (
	id         bigserial PRIMARY KEY,
	rollout_id bigint NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
	at         timestamptz NOT NULL DEFAULT clock_timestamp(),
	type       text NOT NULL,
	detail     text NOT NULL DEFAULT ''
);
CREATE INDEX rollout_events_rollout ON rollout_events (rollout_id, id);

-- The latest evaluation of each metric and arm of each stage.
CREATE TABLE rollout_analysis (
	rollout_id bigint NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
	stage      int NOT NULL,
	metric     text NOT NULL,
	arm        text NOT NULL,
	value      double precision,
	threshold  text NOT NULL,
	baseline   double precision,
	samples    bigint NOT NULL,
	devices    bigint NOT NULL,
	result     text NOT NULL,
	at         timestamptz NOT NULL,
	PRIMARY KEY (rollout_id, stage, metric, arm)
);

-- What agents said about their installs; feeds install_failure_rate.
CREATE TABLE agent_status (
	device_id text NOT NULL,
	model     text NOT NULL,
	version   text NOT NULL,
	state     text NOT NULL,
	detail    text,
	at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agent_status_version ON agent_status (model, version, at);

CREATE INDEX devices_updated ON devices (updated_at);

-- Other replicas learn of changes to what devices should run.
CREATE FUNCTION ramp_changed() RETURNS void LANGUAGE sql AS $$
	SELECT pg_notify('ramp_changed', '')
$$;
