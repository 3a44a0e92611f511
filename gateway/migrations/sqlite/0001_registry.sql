-- Registry of agencies, consumer systems and services (SQLite).
--
-- `definition` holds the entity as serde_json wrote it and is what loading
-- reads; the typed columns duplicate a few fields so that queries and
-- foreign keys need not parse JSON. Timestamps are unix milliseconds.
--
-- The application validates references before writing; the foreign keys are
-- a second line of defence, deferred so that one apply may insert a parent
-- and its children in any order. Text keys say NOT NULL because SQLite,
-- unlike PostgreSQL, lets a non-integer primary key hold NULL.

CREATE TABLE registry_meta (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    version BIGINT NOT NULL
);

INSERT INTO registry_meta (id, version) VALUES (1, 0);

CREATE TABLE agencies (
    code TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    parent TEXT REFERENCES agencies (code) DEFERRABLE INITIALLY DEFERRED,
    definition TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE INDEX agencies_parent ON agencies (parent);

CREATE TABLE systems (
    slug TEXT PRIMARY KEY NOT NULL,
    agency TEXT NOT NULL REFERENCES agencies (code) DEFERRABLE INITIALLY DEFERRED,
    definition TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE INDEX systems_agency ON systems (agency);

CREATE TABLE services (
    slug TEXT NOT NULL,
    version TEXT NOT NULL,
    state TEXT NOT NULL,
    owner TEXT NOT NULL REFERENCES agencies (code) DEFERRABLE INITIALLY DEFERRED,
    definition TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (slug, version)
);

CREATE INDEX services_owner ON services (owner);
