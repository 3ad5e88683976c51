-- Token revocation: per client ("revoke every token of this client") and
-- per token (RFC 7009); and last-used times no longer count as a change.

-- Tokens of this client issued at or before this instant are revoked.
ALTER TABLE api_clients ADD COLUMN tokens_valid_after TIMESTAMPTZ;

-- Access tokens revoked before they expired, kept until their expiry and
-- then purged in batches. No foreign key to api_clients: a deleted client's
-- revocations are harmless and go when their tokens expire.
CREATE TABLE revoked_tokens (
    jti        UUID NOT NULL CONSTRAINT revoked_tokens_pkey PRIMARY KEY,
    client_id  UUID NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ NOT NULL
);

-- What the purge looks for: revocations whose token has expired.
CREATE INDEX revoked_tokens_expires ON revoked_tokens (expires_at);

-- A revocation must reach every instance's cache of "is this token
-- revoked?" answers. Row-level, so that a repeated revocation (ON CONFLICT
-- DO NOTHING, no row inserted) tells nobody. Purges (DELETE) do not notify:
-- they only remove revocations of tokens that have expired anyway.
CREATE TRIGGER revoked_tokens_notify AFTER INSERT ON revoked_tokens
    FOR EACH ROW EXECUTE FUNCTION portcullis_notify_change();

-- The batched last-used times (several writes a minute per instance) change
-- nothing an instance caches for authentication, so they must not make
-- every instance drop its caches. Updates now notify per row, and only when
-- a column other than last_used_at changed. The comparison is of the whole
-- row minus last_used_at, not a list of columns, so that a column added
-- later counts as a change without anyone remembering to add it here.
-- (PostgreSQL folds the identical notifications of one transaction into one.)
DROP TRIGGER api_clients_notify ON api_clients;
CREATE TRIGGER api_clients_notify AFTER INSERT OR DELETE OR TRUNCATE ON api_clients
    FOR EACH STATEMENT EXECUTE FUNCTION portcullis_notify_change();
CREATE TRIGGER api_clients_notify_update AFTER UPDATE ON api_clients
    FOR EACH ROW
    WHEN ((to_jsonb(OLD) - 'last_used_at') IS DISTINCT FROM (to_jsonb(NEW) - 'last_used_at'))
    EXECUTE FUNCTION portcullis_notify_change();
