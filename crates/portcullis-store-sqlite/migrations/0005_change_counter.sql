-- A change counter for caches. `PRAGMA data_version` moves on every commit,
-- including those caches do not care about (events, sessions, last-used
-- times), and each would empty them. The store now reads data_version first
-- (cheap) and, only when it moved, this counter, which only writes to what
-- caches hold move.
CREATE TABLE change_counter (
    id    INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
) STRICT;
INSERT INTO change_counter (id, value) VALUES (1, 0);

CREATE TRIGGER permissions_changed_insert AFTER INSERT ON permissions
BEGIN
    UPDATE change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER permissions_changed_delete AFTER DELETE ON permissions
BEGIN
    UPDATE change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER permissions_changed_update AFTER UPDATE ON permissions
BEGIN
    UPDATE change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER roles_changed_insert AFTER INSERT ON roles
BEGIN
    UPDATE change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER roles_changed_delete AFTER DELETE ON roles
BEGIN
    UPDATE change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER roles_changed_update AFTER UPDATE ON roles
BEGIN
    UPDATE change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER role_permissions_changed_insert AFTER INSERT ON role_permissions
BEGIN
    UPDATE change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER role_permissions_changed_delete AFTER DELETE ON role_permissions
BEGIN
    UPDATE change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER role_permissions_changed_update AFTER UPDATE ON role_permissions
BEGIN
    UPDATE change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER signing_keys_changed_insert AFTER INSERT ON signing_keys
BEGIN
    UPDATE change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER signing_keys_changed_delete AFTER DELETE ON signing_keys
BEGIN
    UPDATE change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER signing_keys_changed_update AFTER UPDATE ON signing_keys
BEGIN
    UPDATE change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER server_secrets_changed_insert AFTER INSERT ON server_secrets
BEGIN
    UPDATE change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER server_secrets_changed_delete AFTER DELETE ON server_secrets
BEGIN
    UPDATE change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER server_secrets_changed_update AFTER UPDATE ON server_secrets
BEGIN
    UPDATE change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER revoked_tokens_changed_insert AFTER INSERT ON revoked_tokens
BEGIN
    UPDATE change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER revoked_tokens_changed_delete AFTER DELETE ON revoked_tokens
BEGIN
    UPDATE change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER revoked_tokens_changed_update AFTER UPDATE ON revoked_tokens
BEGIN
    UPDATE change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER users_changed_insert AFTER INSERT ON users
BEGIN
    UPDATE change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER users_changed_delete AFTER DELETE ON users
BEGIN
    UPDATE change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER users_changed_update AFTER UPDATE ON users
BEGIN
    UPDATE change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER user_roles_changed_insert AFTER INSERT ON user_roles
BEGIN
    UPDATE change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER user_roles_changed_delete AFTER DELETE ON user_roles
BEGIN
    UPDATE change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER user_roles_changed_update AFTER UPDATE ON user_roles
BEGIN
    UPDATE change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER api_clients_changed_insert AFTER INSERT ON api_clients
BEGIN
    UPDATE change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER api_clients_changed_delete AFTER DELETE ON api_clients
BEGIN
    UPDATE change_counter SET value = value + 1 WHERE id = 1;
END;

-- `UPDATE OF`: fires when the statement sets any of these columns, changed
-- or not (update_client sets them all), but not for the last-used flush,
-- which sets only last_used_at.
CREATE TRIGGER api_clients_changed_update AFTER UPDATE OF name, name_lower, description, status, role_id,
    token_ttl_seconds, secret_hash, created_at, updated_at, tokens_valid_after ON api_clients
BEGIN
    UPDATE change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER personal_access_tokens_changed_insert AFTER INSERT ON personal_access_tokens
BEGIN
    UPDATE change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER personal_access_tokens_changed_delete AFTER DELETE ON personal_access_tokens
BEGIN
    UPDATE change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER personal_access_tokens_changed_update AFTER UPDATE OF user_id, hash, hint, created_at
    ON personal_access_tokens
BEGIN
    UPDATE change_counter SET value = value + 1 WHERE id = 1;
END;
