-- Artifacts in the database (RAMP_ARTIFACT_STORE=database, the default with
-- an external database): every replica serves every artifact. An artifact
-- is a list of 1 MiB chunks; a chunk is stored once by its own SHA-256, so
-- the same bytes uploaded twice, or two artifacts with equal aligned
-- chunks, cost one copy. Model files rarely compress: no TOAST compression.
CREATE TABLE artifact_chunks (
	hash bytea PRIMARY KEY,
	data bytea NOT NULL
);
ALTER TABLE artifact_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE TABLE artifact_objects (
	digest text PRIMARY KEY,              -- sha256:<64 hex> of the whole artifact
	size bigint NOT NULL,
	chunk_size integer NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE artifact_parts (
	digest text NOT NULL REFERENCES artifact_objects ON DELETE CASCADE,
	seq integer NOT NULL,
	chunk bytea NOT NULL REFERENCES artifact_chunks (hash),
	PRIMARY KEY (digest, seq)
);
CREATE INDEX ON artifact_parts (chunk);
