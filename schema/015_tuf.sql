-- 015_tuf: the TUF repository (docs/tuf.md). Every version of every role's
-- metadata, as the exact bytes served (consistent snapshots: N.<role>.json
-- is never rewritten), and the online snapshot and timestamp keys rampd
-- signs with (a key is used while the current root lists it).
CREATE TABLE tuf_metadata (
    role        text NOT NULL,
    version     bigint NOT NULL CHECK (version >= 1),
    body        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text NOT NULL,
    PRIMARY KEY (role, version)
);

CREATE TABLE tuf_online_keys (
    keyid       text PRIMARY KEY,
    role        text NOT NULL CHECK (role IN ('snapshot', 'timestamp')),
    private_pem text NOT NULL,
    public_key  jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
