-- Keys of the Open311 API (issue 15): `gridbot apikey create NAME` prints a key once and stores
-- only its SHA-256; a revoked key stays, so its tickets keep their filer. One live key per name.
-- Rules: domain/open311.py.
CREATE TABLE api_keys (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    key_hash   TEXT NOT NULL UNIQUE,  -- hex SHA-256 of the key
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE UNIQUE INDEX api_keys_live_name ON api_keys(name) WHERE revoked_at IS NULL;
