-- 016_deltas: zstd patch-from deltas between two artifacts of the store
-- (docs/deltas.md). A delta is itself an object of the artifact store,
-- named by its own digest; this table says what it turns into what. Rows
-- are made by rampd's builder (source 'built') or registered by CI after
-- it uploaded the bytes (source 'uploaded'); never changed afterwards.
CREATE TABLE deltas (
	id          bigint GENERATED ALWAYS AS IDENTITY UNIQUE, -- list order and cursor
	from_digest text NOT NULL,
	to_digest   text NOT NULL,
	digest      text NOT NULL,
	size        bigint NOT NULL CHECK (size > 0),
	format      text NOT NULL DEFAULT 'zstd-patch' CHECK (format = 'zstd-patch'),
	source      text NOT NULL CHECK (source IN ('built', 'uploaded')),
	build_ms    bigint,
	created_by  text,
	created_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (from_digest, to_digest),
	CHECK (from_digest <> to_digest)
);

-- What each device is known to run, per model: the version it last
-- reported installed (a rolled_back report of that version clears it).
-- The desired answer offers a delta only from exactly that version's file.
ALTER TABLE devices ADD COLUMN running jsonb NOT NULL DEFAULT '{}';
