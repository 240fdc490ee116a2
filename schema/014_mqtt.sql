-- 014_mqtt: the idempotency keys of telemetry that arrived over MQTT.
--
-- A QoS 1 message is redelivered when its PUBACK never reached the broker
-- (rampd killed after the commit, a connection lost): each message's key
-- (SHA-256 of its topic and payload, hex) is inserted in the same
-- transaction as its rows, so a redelivery finds its key and stores nothing.
-- Two replicas taking the same redelivery race on the primary key: the
-- second waits for the first's commit and then stores nothing either.
-- Keys older than the broker's session expiry can no longer come back and
-- are pruned by rampd (mqtt_keys_prune).
CREATE TABLE mqtt_keys (
	key text PRIMARY KEY,
	received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON mqtt_keys (received_at);
