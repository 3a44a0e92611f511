-- Access control: credentials of systems, subscriptions to services and the
-- versioned policy bundles with a pointer to the one in force (PostgreSQL).
--
-- As in 0001, `definition` holds the entity as serde_json wrote it and the
-- typed columns duplicate what queries, foreign keys and unique indexes need.
-- Timestamps are unix milliseconds.

-- `lookup` is the value a request is matched by: the client id, the API key's
-- hash or the certificate's fingerprint. The unique index on (kind, lookup)
-- keeps two credentials, and so two systems, from ever sharing one.
CREATE TABLE credentials (
    id TEXT PRIMARY KEY,
    system TEXT NOT NULL REFERENCES systems (slug) DEFERRABLE INITIALLY DEFERRED,
    kind TEXT NOT NULL,
    lookup TEXT NOT NULL,
    revoked BIGINT NOT NULL,
    definition TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE UNIQUE INDEX credentials_lookup ON credentials (kind, lookup);
CREATE INDEX credentials_system ON credentials (system);

-- `service` is a service slug, which may have several versions, so it
-- references no table; the application checks that one version exists.
CREATE TABLE subscriptions (
    system TEXT NOT NULL REFERENCES systems (slug) DEFERRABLE INITIALLY DEFERRED,
    service TEXT NOT NULL,
    state TEXT NOT NULL,
    definition TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (system, service)
);

CREATE INDEX subscriptions_service ON subscriptions (service);

-- Bundles are immutable once stored: new content takes a new version.
CREATE TABLE policy_bundles (
    version TEXT PRIMARY KEY,
    definition TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- The bundle in force; NULL until one is applied (the built-in default).
ALTER TABLE registry_meta ADD COLUMN active_policy TEXT
    REFERENCES policy_bundles (version) DEFERRABLE INITIALLY DEFERRED;
