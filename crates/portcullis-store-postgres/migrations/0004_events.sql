-- Request and audit events, kept for the retention period; the same shape
-- as the SQLite schema. Conventions as in 0001.
--
-- No foreign keys: an event outlives the client or user it is about.
-- Bodies are stored already redacted and capped by the service.

CREATE TABLE events (
    id             UUID NOT NULL CONSTRAINT events_pkey PRIMARY KEY,
    occurred_at    TIMESTAMPTZ NOT NULL,
    kind           TEXT NOT NULL,
    client_id      UUID,
    user_id        UUID,
    actor          TEXT,
    method         TEXT,
    path           TEXT,
    status         INTEGER,
    latency_micros BIGINT,
    source_ip      TEXT,
    user_agent     TEXT,
    request_body   TEXT,
    response_body  TEXT,
    -- For changes: what changed, as JSON text.
    details        TEXT
);

-- Keyset pagination, newest first with ties broken by id: over all events
-- (and the purge, oldest first), a client's, a user's, one kind's.
CREATE INDEX events_occurred ON events (occurred_at DESC, id DESC);
CREATE INDEX events_client ON events (client_id, occurred_at DESC, id DESC);
CREATE INDEX events_user ON events (user_id, occurred_at DESC, id DESC);
CREATE INDEX events_kind ON events (kind, occurred_at DESC, id DESC);

-- No NOTIFY trigger: events are written on nearly every request and purged
-- in batches; no cache holds them, and neither must make every instance
-- drop its caches.
