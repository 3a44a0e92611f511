-- The reuse store: verified data items about a data subject, kept so that
-- citizens are not asked again for data the state already holds (SQLite).
--
-- The subject is stored only as a keyed HMAC (the audit log's subject key),
-- never in clear. The content is sealed with AES-256-GCM under a key kept
-- outside the database (key_id names it; nonce and ciphertext are base64);
-- the associated data binds it to the row's id, subject and provenance
-- (gateway/src/reuse/mod.rs), so a sealed value moved to another row or
-- subject fails to open. Timestamps are unix milliseconds: an item is served
-- while now < valid_until, hidden once superseded_at is set, and deleted by
-- the purger once purge_after has passed. allowed_purposes is a JSON array.

CREATE TABLE reuse_items (
    id TEXT PRIMARY KEY NOT NULL,
    subject_kind TEXT NOT NULL,
    subject_hash TEXT NOT NULL,
    data_type TEXT NOT NULL,
    source TEXT NOT NULL,
    source_agency TEXT NOT NULL,
    fetched_at BIGINT NOT NULL,
    valid_until BIGINT NOT NULL,
    content_sha256 TEXT NOT NULL,
    dossier TEXT,
    procedure_code TEXT,
    allowed_purposes TEXT,
    key_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    ciphertext TEXT NOT NULL,
    receipt_signature TEXT,
    superseded_at BIGINT,
    purge_after BIGINT NOT NULL
);

-- The newest item of a type about a subject, and the purger's sweep.
CREATE INDEX reuse_items_subject ON reuse_items (subject_hash, data_type, fetched_at);
CREATE INDEX reuse_items_purge_after ON reuse_items (purge_after);

-- Data items a one-stop desk still had to ask the citizen for: the
-- denominator of the data reuse rate. data_types is a JSON array.
CREATE TABLE reuse_asked (
    id TEXT PRIMARY KEY NOT NULL,
    recorded_at BIGINT NOT NULL,
    agency TEXT,
    system TEXT,
    dossier TEXT NOT NULL,
    service TEXT,
    items BIGINT NOT NULL,
    data_types TEXT
);

CREATE INDEX reuse_asked_recorded_at ON reuse_asked (recorded_at);

-- Procedure results written back, for the on-time KPI: when the gateway
-- received each (unix ms) against the day the result was issued (ngayCap,
-- as 00:00 Asia/Ho_Chi_Minh in unix ms). id is the reuse item's id.
CREATE TABLE reuse_write_backs (
    id TEXT PRIMARY KEY NOT NULL,
    received_at BIGINT NOT NULL,
    agency TEXT NOT NULL,
    service TEXT NOT NULL,
    issued_at BIGINT NOT NULL
);

CREATE INDEX reuse_write_backs_received ON reuse_write_backs (received_at);
