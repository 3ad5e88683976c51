-- Request and audit events, kept for the retention period. Conventions as
-- in 0001 (UUIDs as TEXT, timestamps as INTEGER unix microseconds).
--
-- No foreign keys: an event outlives the client or user it is about.
-- Bodies are stored already redacted and capped by the service.

CREATE TABLE events (
    id             TEXT NOT NULL PRIMARY KEY,
    occurred_at    INTEGER NOT NULL,
    kind           TEXT NOT NULL,
    client_id      TEXT,
    user_id        TEXT,
    actor          TEXT,
    method         TEXT,
    path           TEXT,
    status         INTEGER,
    latency_micros INTEGER,
    source_ip      TEXT,
    user_agent     TEXT,
    request_body   TEXT,
    response_body  TEXT,
    -- For changes: what changed, as JSON text.
    details        TEXT
) STRICT;

-- Keyset pagination, newest first with ties broken by id: over all events
-- (and the purge, oldest first), a client's, a user's, one kind's.
CREATE INDEX events_occurred ON events (occurred_at DESC, id DESC);
CREATE INDEX events_client ON events (client_id, occurred_at DESC, id DESC);
CREATE INDEX events_user ON events (user_id, occurred_at DESC, id DESC);
CREATE INDEX events_kind ON events (kind, occurred_at DESC, id DESC);
