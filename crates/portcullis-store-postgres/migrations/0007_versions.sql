-- A version per client: 1 when created, one more after every change (not
-- a last-used time). Changes check it inside their transaction when the
-- caller asks (REST `If-Match`), and it is the `ETag` of the resource.
ALTER TABLE api_clients ADD COLUMN version BIGINT NOT NULL DEFAULT 1 CHECK (version > 0);
