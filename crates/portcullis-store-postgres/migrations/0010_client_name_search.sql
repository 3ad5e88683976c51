-- Search by name among a million clients: "contains" (`name_lower LIKE
-- '%…%'`) reads every row. A trigram index answers it for needles of three
-- characters or more; the planner still walks the newest rows first when a
-- needle is common. pg_trgm ships with PostgreSQL and is a trusted
-- extension: the database's owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX api_clients_name_trigrams ON api_clients USING gin (name_lower gin_trgm_ops);
