-- Console users, their roles, sessions and personal access tokens.
-- Conventions as in 0001.

CREATE TABLE users (
    id            TEXT NOT NULL PRIMARY KEY,
    -- Trimmed and lowercased by the domain (Unicode-aware, the same folding
    -- as name_lower), so it is both the unique key and the searchable form.
    email         TEXT NOT NULL CONSTRAINT user_email_unique UNIQUE,
    name          TEXT NOT NULL CONSTRAINT user_name_length CHECK (length(name) BETWEEN 1 AND 200),
    -- The name lowercased by the store, for the case-insensitive text filter.
    name_lower    TEXT NOT NULL,
    status        TEXT NOT NULL CONSTRAINT user_status_valid CHECK (status IN ('enabled', 'disabled')),
    -- An argon2id PHC string; NULL until a password is set.
    password_hash TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

-- Keyset pagination: newest first, ties broken by id.
CREATE INDEX users_created ON users (created_at DESC, id DESC);

CREATE TABLE user_roles (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- A role is not deleted while a user holds it.
    role_id TEXT NOT NULL REFERENCES roles (id) ON DELETE RESTRICT,
    PRIMARY KEY (user_id, role_id)
) STRICT, WITHOUT ROWID;

-- "Users of this role", and the foreign key check when a role is deleted.
CREATE INDEX user_roles_role ON user_roles (role_id, user_id);

-- Signed-in console sessions. Only the hash of a session's id is stored.
CREATE TABLE sessions (
    id_hash      BLOB NOT NULL PRIMARY KEY CONSTRAINT session_id_hash_length CHECK (length(id_hash) = 32),
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    -- The absolute end, whatever the activity.
    expires_at   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- What the purge looks for; and a user's sessions (sign-out everywhere, the
-- cascade when a user is deleted).
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sessions_user ON sessions (user_id);

-- At most one personal access token per user: its keyed hash and a hint.
CREATE TABLE personal_access_tokens (
    user_id      TEXT NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    hash         BLOB NOT NULL CONSTRAINT personal_token_hash_unique UNIQUE
                     CONSTRAINT personal_token_hash_length CHECK (length(hash) = 32),
    hint         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER
) STRICT;
