-- Token revocation: per client ("revoke every token of this client") and
-- per token (RFC 7009). Conventions as in 0001.

-- Tokens of this client issued at or before this instant are revoked.
ALTER TABLE api_clients ADD COLUMN tokens_valid_after INTEGER;

-- Access tokens revoked before they expired, kept until their expiry and
-- then purged in batches. No foreign key to api_clients: a deleted client's
-- revocations are harmless and go when their tokens expire.
CREATE TABLE revoked_tokens (
    jti        TEXT NOT NULL PRIMARY KEY,
    client_id  TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- What the purge looks for: revocations whose token has expired.
CREATE INDEX revoked_tokens_expires ON revoked_tokens (expires_at);
