-- The V-APEX publication outbox (PostgreSQL).
--
-- A row is inserted in the same transaction as the lifecycle change it
-- announces, so a change is published if and only if it was committed. The
-- publisher delivers rows in created order per service version; `id` is also
-- the Idempotency-Key sent to V-APEX, so a row delivered twice (a retry after
-- a lost answer, two nodes racing) is one publication there.
--
-- state: pending (not yet accepted by V-APEX), submitted (accepted, status
-- not yet published), published, rejected (V-APEX refused it for good; not
-- retried). Timestamps are unix milliseconds; next_attempt_at is also the
-- lease a node takes before it delivers.
CREATE TABLE vapex_outbox (
    id TEXT PRIMARY KEY NOT NULL,
    service TEXT NOT NULL,
    version TEXT NOT NULL,
    agency TEXT NOT NULL,
    event TEXT NOT NULL,
    descriptor TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    publication_id TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE INDEX vapex_outbox_due ON vapex_outbox (state, next_attempt_at);
CREATE INDEX vapex_outbox_service ON vapex_outbox (service, version, created_at);

-- Every node LISTENs on lgsp_registry and rebuilds its snapshot when the
-- registry version moves: the notification is sent at commit, so a change
-- reaches every node within milliseconds instead of at the next poll.
CREATE FUNCTION lgsp_registry_notify() RETURNS trigger AS $$
BEGIN
    IF NEW.version <> OLD.version THEN
        PERFORM pg_notify('lgsp_registry', NEW.version::text);
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER registry_meta_notify AFTER UPDATE ON registry_meta
    FOR EACH ROW EXECUTE FUNCTION lgsp_registry_notify();
