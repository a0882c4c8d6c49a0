-- Shops (经营码, deep link m_<code>) with residents' ratings, and supervised sites (监管码, s_<code>)
-- with inspection records. SQL: storage/codes_sql.py; rules: domain/shops.py.

-- Two new roles. SQLite cannot change a CHECK constraint, so the staff table is rebuilt: a new
-- table with the wider CHECK, the rows copied, the old one dropped and the new one renamed.
-- Nothing references staff, and this runs inside the migration's transaction.
CREATE TABLE staff_new (
    telegram_id INTEGER NOT NULL,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN
                ('grid_worker', 'village', 'town', 'department', 'official', 'admin',
                 'inspector', 'shop_owner')),
    scope       TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (telegram_id, role, scope)
);
INSERT INTO staff_new(telegram_id, name, role, scope) SELECT telegram_id, name, role, scope FROM staff;
DROP TABLE staff;
ALTER TABLE staff_new RENAME TO staff;
CREATE INDEX staff_role_scope ON staff(role, scope);

CREATE TABLE shops (
    code      TEXT PRIMARY KEY,
    name      TEXT NOT NULL,
    grid_code TEXT NOT NULL REFERENCES grids(code),
    owner_id  INTEGER                   -- the owner's Telegram id, if the import named one
);
CREATE INDEX shops_grid ON shops(grid_code);
CREATE INDEX shops_owner ON shops(owner_id) WHERE owner_id IS NOT NULL;

-- One row per resident, shop and local day: rating again the same day replaces the row.
CREATE TABLE shop_ratings (
    shop_code   TEXT NOT NULL REFERENCES shops(code),
    resident_id INTEGER NOT NULL,
    day         TEXT NOT NULL,          -- YYYY-MM-DD in TIMEZONE
    cleanliness INTEGER NOT NULL CHECK (cleanliness BETWEEN 1 AND 5),
    orderliness INTEGER NOT NULL CHECK (orderliness BETWEEN 1 AND 5),
    service     INTEGER NOT NULL CHECK (service BETWEEN 1 AND 5),
    comment     TEXT,
    rated_at    INTEGER NOT NULL,
    PRIMARY KEY (shop_code, resident_id, day)
);
-- An owner's averages and comments; officials' ratings of a week across shops.
CREATE INDEX shop_ratings_shop ON shop_ratings(shop_code, rated_at);
CREATE INDEX shop_ratings_week ON shop_ratings(rated_at, shop_code, cleanliness, orderliness, service);

CREATE TABLE sites (
    code      TEXT PRIMARY KEY,
    name      TEXT NOT NULL,
    grid_code TEXT NOT NULL REFERENCES grids(code),
    kind      TEXT NOT NULL CHECK (kind IN ('facility', 'street'))
);

CREATE TABLE inspections (
    id             INTEGER PRIMARY KEY,
    site_code      TEXT NOT NULL REFERENCES sites(code),
    inspector_id   INTEGER NOT NULL,
    inspector_name TEXT NOT NULL,       -- as it was then: staff rows may change later
    note           TEXT NOT NULL,
    at             INTEGER NOT NULL,
    -- The Telegram update that saved it: the same update delivered twice saves one record.
    source_key     TEXT UNIQUE
);
CREATE INDEX inspections_site ON inspections(site_code, at);

CREATE TABLE inspection_photos (
    inspection_id  INTEGER NOT NULL REFERENCES inspections(id),
    position       INTEGER NOT NULL,
    file_id        TEXT NOT NULL,
    file_unique_id TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (inspection_id, position)
);
