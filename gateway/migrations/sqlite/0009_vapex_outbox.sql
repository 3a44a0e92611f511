-- The V-APEX publication outbox (SQLite).
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
