-- A page of events of one status class (`?status=5xx`) with no other
-- filter, from an index: without it such a page read events newest first
-- until it had a page, tens of milliseconds to seconds with millions of
-- rows (bench/events-pages). The store filters on the same expression.
CREATE INDEX events_status_class ON events (status / 100, occurred_at DESC, id DESC);
