-- Clients, roles and permissions, signing keys, server secrets.
--
-- Conventions (see the crate docs): timestamps are INTEGER unix
-- microseconds (UTC), UUIDs are hyphenated lowercase TEXT, booleans are
-- INTEGER 0/1. Tables are STRICT so that a value of the wrong type is
-- refused on write instead of surfacing later as a corrupt row. Named
-- constraints are what the store translates into `StoreError::Conflict`.

CREATE TABLE permissions (
    name        TEXT NOT NULL PRIMARY KEY,
    -- The part before the colon, kept for grouping in listings.
    category    TEXT NOT NULL,
    description TEXT NOT NULL,
    -- Built-in permissions are Portcullis's own (kept in sync at start-up);
    -- operators add their own with builtin = 0.
    builtin     INTEGER NOT NULL DEFAULT 0 CONSTRAINT permission_builtin_bool CHECK (builtin IN (0, 1))
) STRICT;

CREATE INDEX permissions_category ON permissions (category, name);

CREATE TABLE roles (
    id          TEXT NOT NULL PRIMARY KEY,
    name        TEXT NOT NULL CONSTRAINT role_name_unique UNIQUE,
    description TEXT NOT NULL,
    builtin     INTEGER NOT NULL DEFAULT 0 CONSTRAINT role_builtin_bool CHECK (builtin IN (0, 1)),
    created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE role_permissions (
    role_id    TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    permission TEXT NOT NULL REFERENCES permissions (name) ON DELETE RESTRICT,
    PRIMARY KEY (role_id, permission)
) STRICT, WITHOUT ROWID;

-- Finds the roles holding a permission (and checks the foreign key when a
-- permission is deleted) without a full scan.
CREATE INDEX role_permissions_permission ON role_permissions (permission);

CREATE TABLE api_clients (
    id                TEXT NOT NULL PRIMARY KEY,
    name              TEXT NOT NULL CONSTRAINT client_name_length CHECK (length(name) BETWEEN 1 AND 200),
    -- The name lowercased by the store (Unicode-aware, unlike SQLite's
    -- lower()), for the case-insensitive name filter.
    name_lower        TEXT NOT NULL,
    description       TEXT,
    status            TEXT NOT NULL CONSTRAINT client_status_valid CHECK (status IN ('enabled', 'disabled')),
    role_id           TEXT REFERENCES roles (id) ON DELETE RESTRICT,
    token_ttl_seconds INTEGER NOT NULL CONSTRAINT client_token_ttl_range CHECK (token_ttl_seconds BETWEEN 60 AND 86400),
    secret_hash       BLOB NOT NULL CONSTRAINT client_secret_hash_length CHECK (length(secret_hash) = 32),
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    last_used_at      INTEGER
) STRICT;

-- Keyset pagination: newest first, ties broken by id.
CREATE INDEX api_clients_created ON api_clients (created_at DESC, id DESC);
-- The foreign key check when a role is deleted, and "clients of this role".
CREATE INDEX api_clients_role ON api_clients (role_id);

CREATE TABLE signing_keys (
    kid                TEXT NOT NULL PRIMARY KEY,
    algorithm          TEXT NOT NULL,
    public_key         BLOB NOT NULL,
    -- Sealed by the service under the master key; never the raw private key.
    sealed_private_key BLOB NOT NULL,
    created_at         INTEGER NOT NULL
) STRICT;

CREATE INDEX signing_keys_created ON signing_keys (created_at DESC, kid DESC);

CREATE TABLE server_secrets (
    name  TEXT NOT NULL PRIMARY KEY,
    -- Sealed by the service before it gets here.
    value BLOB NOT NULL
) STRICT;
