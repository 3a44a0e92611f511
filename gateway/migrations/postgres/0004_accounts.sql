-- Accounts of the admin listener and their bearer sessions (PostgreSQL).
--
-- Applies after 0003 (the audit tables) and touches nothing of it. Timestamps
-- are unix milliseconds.

-- `role` is one of the roles of the admin plane (province_admin, operator,
-- auditor, commune_officer), checked by the application rather than by a CHECK
-- so that a later role needs no table rebuild on SQLite. `agency` names the
-- commune of a commune officer and is NULL for the other roles; it references
-- no table, because accounts may be created before the registry is applied.
-- `password_hash` is an argon2id PHC string; `disabled` is 0 or 1.
CREATE TABLE admin_accounts (
    username TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    agency TEXT,
    password_hash TEXT NOT NULL,
    disabled BIGINT NOT NULL CHECK (disabled IN (0, 1)),
    created_at BIGINT NOT NULL
);

-- A session is found by the SHA-256 (lowercase hex) of its bearer token, so a
-- copy of this table lets nobody sign in. Deleting an account ends its sessions.
CREATE TABLE admin_sessions (
    token_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL REFERENCES admin_accounts (username) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX admin_sessions_username ON admin_sessions (username);
CREATE INDEX admin_sessions_expires_at ON admin_sessions (expires_at);
