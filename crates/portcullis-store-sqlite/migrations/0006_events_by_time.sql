-- Events kept in time order: the table itself is a B-tree on
-- (occurred_at, id), so a page of all events newest first is a walk along
-- the table, and new events (whose ids are time-ordered UUIDv7) append to
-- its end. This replaces the rowid table of 0004 with its separate
-- primary-key and occurred_at indexes: two fewer B-trees to update per event.
-- The per-user index holds only events that have a user.

CREATE TABLE events_by_time (
    id             TEXT NOT NULL,
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
    details        TEXT,
    PRIMARY KEY (occurred_at, id)
) STRICT, WITHOUT ROWID;

INSERT INTO events_by_time
    (id, occurred_at, kind, client_id, user_id, actor, method, path, status,
     latency_micros, source_ip, user_agent, request_body, response_body, details)
SELECT id, occurred_at, kind, client_id, user_id, actor, method, path, status,
       latency_micros, source_ip, user_agent, request_body, response_body, details
FROM events;

DROP TABLE events;
ALTER TABLE events_by_time RENAME TO events;

CREATE UNIQUE INDEX events_id ON events (id);
CREATE INDEX events_client ON events (client_id, occurred_at DESC, id DESC);
CREATE INDEX events_user ON events (user_id, occurred_at DESC, id DESC) WHERE user_id IS NOT NULL;
CREATE INDEX events_kind ON events (kind, occurred_at DESC, id DESC);
