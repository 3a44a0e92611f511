-- Anchors of archived audit records (PostgreSQL).
--
-- Retention (gateway/src/audit/retention.rs) moves the oldest records of a
-- chain, up to a signed checkpoint, into an archive file in the export format
-- and only then deletes them, in the same transaction that inserts the
-- anchor. The anchor names the last archived record (seq, hash) so the
-- records left in the store still verify: the first one must carry seq + 1
-- and link to hash. The checkpoint at the anchor's seq is kept in
-- audit_checkpoints, so the anchor itself stays signed.
--
-- file is the archive's path as written and file_sha256 the lowercase hex
-- SHA-256 of its bytes; each archive starts with the previous anchor, so the
-- files form a chain of their own. Rows are only ever inserted.
-- archived_at is unix milliseconds.

CREATE TABLE audit_anchors (
    chain TEXT NOT NULL,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    archived_at BIGINT NOT NULL,
    file TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    PRIMARY KEY (chain, seq)
);
