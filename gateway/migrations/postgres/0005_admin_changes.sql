-- The admin-change log: every change made through the admin plane or
-- `lgsp apply`, with who, what, before and after, and when (PostgreSQL).
--
-- One hash chain for the whole registry, separate from the per-node chains of
-- audit_records: seq runs 1, 2, 3… without a gap and each entry holds the
-- previous entry's hash and its own, SHA-256 over the canonical encoding
-- (gateway/src/audit/admin_changes.rs). An entry is inserted in the same
-- transaction as the change it describes, after the writer has locked the
-- registry_meta row, so two writers can never append the same seq; the
-- primary key is the second line of defence. Rows are only ever inserted.
--
-- `before` and `after` hold the entity's JSON definition with every secret
-- (secret_hash, key_hash, password_hash) replaced by "***"; `before` is NULL
-- for a creation. Timestamps are unix milliseconds.

CREATE TABLE admin_changes (
    seq BIGINT PRIMARY KEY,
    changed_at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    entity TEXT NOT NULL,
    before TEXT,
    after TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
