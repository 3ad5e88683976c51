-- A version per role and per user, like api_clients.version: 1 when
-- created, one more after every change; checked inside the change's
-- transaction when the caller asks (REST `If-Match`); the `ETag`.
ALTER TABLE roles ADD COLUMN version BIGINT NOT NULL DEFAULT 1 CHECK (version > 0);
ALTER TABLE users ADD COLUMN version BIGINT NOT NULL DEFAULT 1 CHECK (version > 0);
