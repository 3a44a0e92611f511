-- The tamper-evident audit log: hash-chained records and signed checkpoints
-- of the chain heads (PostgreSQL).
--
-- Each node writes its own chain; seq is contiguous within a chain and each
-- record holds the previous record's hash and its own, SHA-256 over the
-- canonical encoding (gateway/src/audit/record.rs). Rows are only ever
-- inserted, by the node's audit writer. Timestamps are unix milliseconds.
-- The data subject is stored only as a keyed HMAC, never in clear.

CREATE TABLE audit_records (
    id TEXT PRIMARY KEY,
    chain TEXT NOT NULL,
    seq BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    request_id TEXT NOT NULL,
    trace_id TEXT NOT NULL,
    client_ip TEXT NOT NULL,
    system TEXT,
    agency TEXT,
    auth_method TEXT,
    officer TEXT,
    purpose TEXT,
    dossier TEXT,
    service TEXT NOT NULL,
    version TEXT NOT NULL,
    operation TEXT,
    method TEXT NOT NULL,
    subject_kind TEXT,
    subject_hash TEXT,
    outcome TEXT NOT NULL,
    status BIGINT NOT NULL,
    error_code TEXT,
    upstream_status BIGINT,
    latency_us BIGINT NOT NULL,
    request_bytes BIGINT NOT NULL,
    response_bytes BIGINT NOT NULL,
    request_sha256 TEXT NOT NULL,
    response_sha256 TEXT NOT NULL,
    reuse TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    UNIQUE (chain, seq)
);

-- The auditor's searches: by time, and by who, what and whom over time.
CREATE INDEX audit_records_recorded_at ON audit_records (recorded_at);
CREATE INDEX audit_records_system ON audit_records (system, recorded_at);
CREATE INDEX audit_records_agency ON audit_records (agency, recorded_at);
CREATE INDEX audit_records_officer ON audit_records (officer);
CREATE INDEX audit_records_service ON audit_records (service, recorded_at);
CREATE INDEX audit_records_purpose ON audit_records (purpose);
CREATE INDEX audit_records_dossier ON audit_records (dossier);
CREATE INDEX audit_records_outcome ON audit_records (outcome, recorded_at);
CREATE INDEX audit_records_subject ON audit_records (subject_hash, recorded_at);

-- A checkpoint signs one chain head with the gateway's Ed25519 audit key;
-- verification pins the expected key separately from public_key.
CREATE TABLE audit_checkpoints (
    chain TEXT NOT NULL,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    signed_at BIGINT NOT NULL,
    key_id TEXT NOT NULL,
    public_key TEXT NOT NULL,
    signature TEXT NOT NULL,
    PRIMARY KEY (chain, seq)
);
