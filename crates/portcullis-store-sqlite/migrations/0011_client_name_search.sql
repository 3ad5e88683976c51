-- Search by name among a million clients: "contains" (`name_lower LIKE
-- '%…%'`) reads every row, 0.2 s at a million. An FTS5 index of the
-- folded names' trigrams names the rows that contain a needle of three
-- characters or more; the store asks it when the newest rows do not fill a
-- page (a rare needle), and still filters with the LIKE (clients.rs).
-- External content: the names stay in api_clients; triggers keep the index.
-- Case-sensitive: the names are folded already, and GLOB (which the index
-- serves only when case-sensitive) matches them exactly.
CREATE VIRTUAL TABLE api_clients_name_search USING fts5(
    name_lower, content = 'api_clients', content_rowid = 'rowid', tokenize = 'trigram case_sensitive 1'
);

CREATE TRIGGER api_clients_name_search_insert AFTER INSERT ON api_clients BEGIN
    INSERT INTO api_clients_name_search (rowid, name_lower) VALUES (new.rowid, new.name_lower);
END;

CREATE TRIGGER api_clients_name_search_delete AFTER DELETE ON api_clients BEGIN
    INSERT INTO api_clients_name_search (api_clients_name_search, rowid, name_lower)
        VALUES ('delete', old.rowid, old.name_lower);
END;

CREATE TRIGGER api_clients_name_search_update AFTER UPDATE OF name_lower ON api_clients BEGIN
    INSERT INTO api_clients_name_search (api_clients_name_search, rowid, name_lower)
        VALUES ('delete', old.rowid, old.name_lower);
    INSERT INTO api_clients_name_search (rowid, name_lower) VALUES (new.rowid, new.name_lower);
END;

INSERT INTO api_clients_name_search (api_clients_name_search) VALUES ('rebuild');
