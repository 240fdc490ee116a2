-- 002_manifests: signing keys, signed model manifests, stable versions.
-- A manifest row keeps the exact posted bytes; its signatures are separate
-- rows so the same bytes can be re-signed by a new key (key rotation) and the
-- old key revoked afterwards. Keys are never deleted, only revoked.

CREATE TABLE signing_keys (
	id          text PRIMARY KEY,
	public_key  text NOT NULL,
	alg         text NOT NULL CHECK (alg IN ('ecdsa-p256', 'ed25519')),
	fingerprint text NOT NULL,               -- hex SHA-256 of the DER SubjectPublicKeyInfo
	created_at  timestamptz NOT NULL DEFAULT now(),
	created_by  text NOT NULL,
	revoked_at  timestamptz
);

CREATE TABLE manifests (
	model      text NOT NULL,
	version    text NOT NULL,
	text       text NOT NULL,                -- exact posted bytes
	digest     text NOT NULL,                -- hex SHA-256 of text
	doc        jsonb NOT NULL,               -- parsed: {"variants": [...], "expires"}
	expires_at timestamptz,
	posted_by  text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	seq        bigint GENERATED ALWAYS AS IDENTITY UNIQUE, -- list cursor
	PRIMARY KEY (model, version)
);

CREATE TABLE manifest_signatures (
	model      text NOT NULL,
	version    text NOT NULL,
	key_id     text NOT NULL REFERENCES signing_keys (id),
	signature  text NOT NULL,                -- base64, as posted
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (model, version, key_id),
	FOREIGN KEY (model, version) REFERENCES manifests (model, version)
);
CREATE INDEX manifest_signatures_key ON manifest_signatures (key_id);

-- One row per model that has a manifest; stable_version is what a device
-- outside any rollout runs (NULL until set).
CREATE TABLE models (
	name           text PRIMARY KEY,
	stable_version text,
	updated_at     timestamptz NOT NULL DEFAULT now(),
	updated_by     text,
	FOREIGN KEY (name, stable_version) REFERENCES manifests (model, version)
);
