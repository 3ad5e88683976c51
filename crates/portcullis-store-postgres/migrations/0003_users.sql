-- Console users, their roles, sessions and personal access tokens; the same
-- shape as the SQLite schema. Conventions as in 0001.

CREATE TABLE users (
    id            UUID NOT NULL CONSTRAINT users_pkey PRIMARY KEY,
    -- Trimmed and lowercased by the domain (the same folding as name_lower),
    -- so it is both the unique key and the searchable form.
    email         TEXT COLLATE "C" NOT NULL CONSTRAINT user_email_unique UNIQUE,
    name          TEXT NOT NULL CONSTRAINT user_name_length CHECK (char_length(name) BETWEEN 1 AND 200),
    -- The name lowercased by the store, for the case-insensitive text filter.
    name_lower    TEXT NOT NULL,
    status        TEXT NOT NULL CONSTRAINT user_status_valid CHECK (status IN ('enabled', 'disabled')),
    -- An argon2id PHC string; NULL until a password is set.
    password_hash TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

-- Keyset pagination: newest first, ties broken by id.
CREATE INDEX users_created ON users (created_at DESC, id DESC);

CREATE TABLE user_roles (
    user_id UUID NOT NULL CONSTRAINT user_roles_user_fkey REFERENCES users (id) ON DELETE CASCADE,
    -- A role is not deleted while a user holds it.
    role_id UUID NOT NULL CONSTRAINT user_roles_role_fkey REFERENCES roles (id) ON DELETE RESTRICT,
    CONSTRAINT user_roles_pkey PRIMARY KEY (user_id, role_id)
);

-- "Users of this role", and the foreign key check when a role is deleted.
CREATE INDEX user_roles_role ON user_roles (role_id, user_id);

-- Signed-in console sessions. Only the hash of a session's id is stored.
CREATE TABLE sessions (
    id_hash      BYTEA NOT NULL CONSTRAINT sessions_pkey PRIMARY KEY
                     CONSTRAINT session_id_hash_length CHECK (octet_length(id_hash) = 32),
    user_id      UUID NOT NULL CONSTRAINT sessions_user_fkey REFERENCES users (id) ON DELETE CASCADE,
    created_at   TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    -- The absolute end, whatever the activity.
    expires_at   TIMESTAMPTZ NOT NULL
);

-- What the purge looks for; and a user's sessions (sign-out everywhere, the
-- cascade when a user is deleted).
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sessions_user ON sessions (user_id);

-- At most one personal access token per user: its keyed hash and a hint.
CREATE TABLE personal_access_tokens (
    user_id      UUID NOT NULL CONSTRAINT personal_access_tokens_pkey PRIMARY KEY
                     CONSTRAINT personal_access_tokens_user_fkey REFERENCES users (id) ON DELETE CASCADE,
    hash         BYTEA NOT NULL CONSTRAINT personal_token_hash_unique UNIQUE
                     CONSTRAINT personal_token_hash_length CHECK (octet_length(hash) = 32),
    hint         TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ
);

-- Users, their roles and their tokens are what authentication caches hold
-- (a disabled user, a changed role, a revoked token must reach every
-- instance).
CREATE TRIGGER users_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION portcullis_notify_change();
CREATE TRIGGER user_roles_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON user_roles
    FOR EACH STATEMENT EXECUTE FUNCTION portcullis_notify_change();
-- As for api_clients (0002): the batched last-used times are not a change.
CREATE TRIGGER personal_access_tokens_notify AFTER INSERT OR DELETE OR TRUNCATE ON personal_access_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION portcullis_notify_change();
CREATE TRIGGER personal_access_tokens_notify_update AFTER UPDATE ON personal_access_tokens
    FOR EACH ROW
    WHEN ((to_jsonb(OLD) - 'last_used_at') IS DISTINCT FROM (to_jsonb(NEW) - 'last_used_at'))
    EXECUTE FUNCTION portcullis_notify_change();
-- Sessions have no trigger: a session's last-seen time moves on nearly
-- every console request, and sign-in and sign-out must not make every
-- instance drop its caches. Whoever caches sessions must not rely on the
-- change notifications for them.
