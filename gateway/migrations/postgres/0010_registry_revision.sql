-- Each registry row remembers the registry version that last wrote it, so a
-- node rebuilding its snapshot after a change reads only the rows written
-- since the version it holds, not the whole registry. Writers take the
-- registry_meta lock before writing, so revisions commit in version order.
-- Rows written before this migration keep revision 0; nodes load them once,
-- in full, at start-up.
ALTER TABLE agencies ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
ALTER TABLE systems ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
ALTER TABLE services ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
ALTER TABLE credentials ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
ALTER TABLE subscriptions ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;

CREATE INDEX agencies_revision ON agencies (revision);
CREATE INDEX systems_revision ON systems (revision);
CREATE INDEX services_revision ON services (revision);
CREATE INDEX credentials_revision ON credentials (revision);
CREATE INDEX subscriptions_revision ON subscriptions (revision);
