-- 012_otlp_streams: the last point of each cumulative OTLP metric stream
-- (POST /otlp/v1/metrics), keyed by a hash of its device, model version,
-- metric, resource, scope and attributes. The telemetry writer locks a
-- stream's row, counts only the increase since the point kept here and
-- updates it in the transaction that writes the telemetry rows, so the
-- same stream sent to two replicas, or retried, is counted once.
-- state is domain/otlp_delta.c's text ('' until the first point commits).
-- Idle rows are deleted after a TTL, the oldest beyond a cap.

CREATE TABLE otlp_streams (
	key text PRIMARY KEY,
	state text NOT NULL,
	seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX otlp_streams_seen_at ON otlp_streams (seen_at);
