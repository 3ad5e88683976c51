-- A signing key is published before it signs (issue 11): each key has a
-- state, at most one is `next` and at most one `current`. Keys from before
-- this migration: the newest signs (current), the others were replaced when
-- their successor was created. The service adds the missing `next` key at
-- start-up (a key cannot be generated in SQL).
ALTER TABLE signing_keys ADD COLUMN state TEXT NOT NULL DEFAULT 'previous'
    CONSTRAINT signing_key_state_valid CHECK (state IN ('next', 'current', 'previous'));
ALTER TABLE signing_keys ADD COLUMN activated_at INTEGER;
ALTER TABLE signing_keys ADD COLUMN replaced_at INTEGER;

UPDATE signing_keys SET activated_at = created_at;
UPDATE signing_keys SET replaced_at = (
    SELECT MIN(newer.created_at) FROM signing_keys AS newer
    WHERE newer.created_at > signing_keys.created_at
        OR (newer.created_at = signing_keys.created_at AND newer.kid > signing_keys.kid)
);
UPDATE signing_keys SET state = 'current', replaced_at = NULL
WHERE kid = (SELECT kid FROM signing_keys ORDER BY created_at DESC, kid DESC LIMIT 1);

CREATE UNIQUE INDEX signing_keys_one_state ON signing_keys (state) WHERE state IN ('next', 'current');
