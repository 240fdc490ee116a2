-- 001_foundation: tokens, devices, cohorts, the hash-chained audit log.

CREATE TABLE tokens (
	name        text PRIMARY KEY,
	role        text NOT NULL CHECK (role IN ('admin','operator','viewer','ci','enroll','ingest','device')),
	hash        bytea NOT NULL UNIQUE,
	device_id   text,
	created_at  timestamptz NOT NULL DEFAULT now(),
	last_used   timestamptz,
	expires_at  timestamptz
);

CREATE TABLE devices (
	id            text PRIMARY KEY,
	platform      text NOT NULL,
	labels        jsonb NOT NULL DEFAULT '{}',
	pins          jsonb NOT NULL DEFAULT '{}',
	models        jsonb NOT NULL DEFAULT '{}',
	agent_version text,
	created_at    timestamptz NOT NULL DEFAULT now(),
	updated_at    timestamptz NOT NULL DEFAULT now(),
	last_seen     timestamptz
);
CREATE INDEX devices_platform ON devices (platform);
CREATE INDEX devices_labels ON devices USING gin (labels jsonb_path_ops);

ALTER TABLE tokens ADD CONSTRAINT tokens_device_fk
	FOREIGN KEY (device_id) REFERENCES devices (id) ON DELETE CASCADE;

CREATE TABLE cohorts (
	name       text PRIMARY KEY,
	selector   text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);

-- numeric value of a label, NULL when it is not a number (selectors k>N)
CREATE FUNCTION ramp_num(v text) RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN v ~ '^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$'
	            THEN v::numeric END
$$;

-- The audit log: append-only, each entry's hash covers the previous hash.
CREATE TABLE audit (
	seq       bigint PRIMARY KEY,
	at        timestamptz NOT NULL,
	actor     text NOT NULL,
	action    text NOT NULL,
	target    text NOT NULL,
	detail    jsonb NOT NULL DEFAULT '{}',
	prev_hash text NOT NULL,
	hash      text NOT NULL
);
CREATE TABLE audit_head (
	id   int PRIMARY KEY CHECK (id = 1),
	seq  bigint NOT NULL,
	hash text NOT NULL
);
INSERT INTO audit_head VALUES (1, 0, repeat('0', 64));

CREATE FUNCTION audit_hash(p_seq bigint, p_at timestamptz, p_actor text,
	p_action text, p_target text, p_detail jsonb, p_prev text) RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT encode(sha256(convert_to(
		p_prev || '|' || p_seq::text || '|' ||
		to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '|' ||
		p_actor || '|' || p_action || '|' || p_target || '|' || p_detail::text,
		'UTF8')), 'hex')
$$;

-- Appends one entry; the head row lock serialises writers, so the chain
-- never forks. Call it last in a transaction to keep the lock short.
CREATE FUNCTION audit_append(p_actor text, p_action text, p_target text,
	p_detail jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	h audit_head%ROWTYPE;
	t timestamptz := date_trunc('microseconds', clock_timestamp());
	s bigint;
	nh text;
BEGIN
	SELECT * INTO h FROM audit_head WHERE id = 1 FOR UPDATE;
	s := h.seq + 1;
	nh := audit_hash(s, t, p_actor, p_action, p_target, coalesce(p_detail, '{}'), h.hash);
	INSERT INTO audit VALUES (s, t, p_actor, p_action, p_target, coalesce(p_detail, '{}'), h.hash, nh);
	UPDATE audit_head SET seq = s, hash = nh WHERE id = 1;
	RETURN s;
END
$$;
