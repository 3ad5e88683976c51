-- Most events are a client's and have no user: index only those that do,
-- so that the per-user index costs nothing on the token path.
DROP INDEX events_user;
CREATE INDEX events_user ON events (user_id, occurred_at DESC, id DESC) WHERE user_id IS NOT NULL;
