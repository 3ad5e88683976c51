-- Clients, roles and permissions, signing keys, server secrets; the same
-- shape as the SQLite schema, in PostgreSQL's own types (uuid, timestamptz,
-- bytea, boolean). Named constraints are what the store translates into
-- `StoreError::Conflict`. Identifier-like text sorts and compares bytewise
-- (COLLATE "C"), as in SQLite, whatever the database's locale.

CREATE TABLE permissions (
    name        TEXT COLLATE "C" NOT NULL CONSTRAINT permissions_pkey PRIMARY KEY,
    -- The part before the colon, kept for grouping in listings.
    category    TEXT COLLATE "C" NOT NULL,
    description TEXT NOT NULL,
    -- Built-in permissions are Portcullis's own (kept in sync at start-up);
    -- operators add their own with builtin = false.
    builtin     BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE INDEX permissions_category ON permissions (category, name);

CREATE TABLE roles (
    id          UUID NOT NULL CONSTRAINT roles_pkey PRIMARY KEY,
    name        TEXT COLLATE "C" NOT NULL CONSTRAINT role_name_unique UNIQUE,
    description TEXT NOT NULL,
    builtin     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE role_permissions (
    role_id    UUID NOT NULL CONSTRAINT role_permissions_role_fkey
                   REFERENCES roles (id) ON DELETE CASCADE,
    permission TEXT COLLATE "C" NOT NULL CONSTRAINT role_permissions_permission_fkey
                   REFERENCES permissions (name) ON DELETE RESTRICT,
    CONSTRAINT role_permissions_pkey PRIMARY KEY (role_id, permission)
);

-- Finds the roles holding a permission (and checks the foreign key when a
-- permission is deleted) without a full scan.
CREATE INDEX role_permissions_permission ON role_permissions (permission);

CREATE TABLE api_clients (
    id                UUID NOT NULL CONSTRAINT api_clients_pkey PRIMARY KEY,
    name              TEXT NOT NULL CONSTRAINT client_name_length CHECK (char_length(name) BETWEEN 1 AND 200),
    -- The name lowercased by the store, for the case-insensitive name filter
    -- (the same folding as on SQLite, whatever the database's locale).
    name_lower        TEXT NOT NULL,
    description       TEXT,
    status            TEXT NOT NULL CONSTRAINT client_status_valid CHECK (status IN ('enabled', 'disabled')),
    role_id           UUID CONSTRAINT api_clients_role_fkey REFERENCES roles (id) ON DELETE RESTRICT,
    token_ttl_seconds INTEGER NOT NULL CONSTRAINT client_token_ttl_range CHECK (token_ttl_seconds BETWEEN 60 AND 86400),
    secret_hash       BYTEA NOT NULL CONSTRAINT client_secret_hash_length CHECK (octet_length(secret_hash) = 32),
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    last_used_at      TIMESTAMPTZ
);

-- Keyset pagination: newest first, ties broken by id.
CREATE INDEX api_clients_created ON api_clients (created_at DESC, id DESC);
-- The foreign key check when a role is deleted, and "clients of this role".
CREATE INDEX api_clients_role ON api_clients (role_id);

CREATE TABLE signing_keys (
    kid                TEXT COLLATE "C" NOT NULL CONSTRAINT signing_keys_pkey PRIMARY KEY,
    algorithm          TEXT NOT NULL,
    public_key         BYTEA NOT NULL,
    -- Sealed by the service under the master key; never the raw private key.
    sealed_private_key BYTEA NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL
);

CREATE INDEX signing_keys_created ON signing_keys (created_at DESC, kid DESC);

CREATE TABLE server_secrets (
    name  TEXT COLLATE "C" NOT NULL CONSTRAINT server_secrets_pkey PRIMARY KEY,
    -- Sealed by the service before it gets here.
    value BYTEA NOT NULL
);

-- Every committed change tells the other instances, whose caches listen on
-- this channel. A notification is sent at commit (none on rollback), and
-- PostgreSQL folds identical ones within a transaction into one.
CREATE FUNCTION portcullis_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('portcullis_changes', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;

CREATE TRIGGER permissions_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON permissions
    FOR EACH STATEMENT EXECUTE FUNCTION portcullis_notify_change();
CREATE TRIGGER roles_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON roles
    FOR EACH STATEMENT EXECUTE FUNCTION portcullis_notify_change();
CREATE TRIGGER role_permissions_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON role_permissions
    FOR EACH STATEMENT EXECUTE FUNCTION portcullis_notify_change();
CREATE TRIGGER api_clients_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON api_clients
    FOR EACH STATEMENT EXECUTE FUNCTION portcullis_notify_change();
CREATE TRIGGER signing_keys_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON signing_keys
    FOR EACH STATEMENT EXECUTE FUNCTION portcullis_notify_change();
CREATE TRIGGER server_secrets_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON server_secrets
    FOR EACH STATEMENT EXECUTE FUNCTION portcullis_notify_change();
