-- 008_webhooks: operators' webhooks and an outbox of deliveries.
-- A trigger on rollout_events queues one delivery per subscribed webhook in
-- the very transaction that records the event, so an event and its
-- notifications are never apart and the engine never waits on a receiver.
-- The delivery thread (server/engine/webhooks.c) claims due rows with
-- FOR UPDATE SKIP LOCKED, so replicas never send one twice.

CREATE TABLE webhooks (
	name       text PRIMARY KEY,
	url        text NOT NULL,
	events     text[] NOT NULL,
	secret     text NOT NULL,
	created_by text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
	id           bigserial PRIMARY KEY,
	webhook      text NOT NULL REFERENCES webhooks (name) ON DELETE CASCADE,
	event_id     bigint NOT NULL,
	event_type   text NOT NULL,
	payload      jsonb NOT NULL,
	attempts     int NOT NULL DEFAULT 0,
	next_at      timestamptz NOT NULL DEFAULT now(),
	delivered_at timestamptz,
	failed_at    timestamptz,          -- gave up after the last attempt
	last_status  int,
	last_error   text,
	created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_at)
	WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries (webhook, id);

CREATE FUNCTION webhook_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	body jsonb;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM webhooks WHERE NEW.type = ANY (events)) THEN
		RETURN NULL;
	END IF;
	SELECT jsonb_build_object('id', NEW.id, 'type', NEW.type, 'detail', NEW.detail,
		'at', NEW.at,
		'rollout', jsonb_build_object('id', r.id, 'model', r.model,
			'version', r.version, 'baseline_version', r.baseline_version,
			'state', r.state, 'stage', r.stage,
			'stage_name', r.policy #>> ARRAY['stages', r.stage::text, 'name'])) INTO body
	FROM rollouts r WHERE r.id = NEW.rollout_id;
	INSERT INTO webhook_deliveries (webhook, event_id, event_type, payload)
	SELECT w.name, NEW.id, NEW.type, body FROM webhooks w WHERE NEW.type = ANY (w.events);
	RETURN NULL;
END
$$;

CREATE TRIGGER rollout_events_webhooks AFTER INSERT ON rollout_events
	FOR EACH ROW EXECUTE FUNCTION webhook_enqueue();
