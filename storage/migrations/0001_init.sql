-- Times are Unix seconds in UTC.

CREATE TABLE grids (
    code    TEXT PRIMARY KEY,
    name    TEXT NOT NULL,
    village TEXT NOT NULL,
    town    TEXT NOT NULL,
    lat     REAL,
    lon     REAL
);
CREATE INDEX grids_village ON grids(town, village);

-- One row per role a person holds; a person may hold several.
CREATE TABLE staff (
    telegram_id INTEGER NOT NULL,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN
                ('grid_worker', 'village', 'town', 'department', 'official', 'admin')),
    scope       TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (telegram_id, role, scope)
);
CREATE INDEX staff_role_scope ON staff(role, scope);

CREATE TABLE categories (
    code          TEXT PRIMARY KEY,
    name_zh       TEXT NOT NULL,
    name_en       TEXT NOT NULL,
    department    TEXT NOT NULL,
    reply_hours   REAL NOT NULL CHECK (reply_hours > 0),
    resolve_hours REAL NOT NULL CHECK (resolve_hours > 0),
    position      INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE users (
    telegram_id INTEGER PRIMARY KEY,
    language    TEXT,                      -- chosen with /lang; NULL follows Telegram
    telegram_language TEXT,                -- the language Telegram reports for the user
    full_name   TEXT NOT NULL DEFAULT '',
    username    TEXT,
    phone       TEXT,                      -- only when the resident shared the contact
    unreachable INTEGER NOT NULL DEFAULT 0, -- the user blocked the bot
    created_at  INTEGER NOT NULL
);

CREATE TABLE tickets (
    id             INTEGER PRIMARY KEY,
    kind           TEXT NOT NULL CHECK (kind IN ('complaint', 'report', 'suggestion')),
    category_code  TEXT NOT NULL REFERENCES categories(code),
    grid_code      TEXT NOT NULL REFERENCES grids(code),
    resident_id    INTEGER NOT NULL,
    share_contact  INTEGER NOT NULL DEFAULT 0,
    description    TEXT NOT NULL,
    lat            REAL,
    lon            REAL,
    status         TEXT NOT NULL,
    tier           TEXT NOT NULL DEFAULT 'grid',
    department     TEXT,
    assignee_id    INTEGER,
    created_at     INTEGER NOT NULL,
    first_reply_at INTEGER,
    resolved_at    INTEGER,
    resolved_tier  TEXT,
    confirmed_at   INTEGER,
    rating         INTEGER CHECK (rating BETWEEN 1 AND 5),
    rating_comment TEXT,
    reply_due_at   INTEGER,
    resolve_due_at INTEGER,
    -- The Telegram update that created it: the same update delivered twice files one ticket.
    source_key     TEXT UNIQUE
);
CREATE INDEX tickets_grid_status ON tickets(grid_code, status, category_code);
CREATE INDEX tickets_resident ON tickets(resident_id, id);
CREATE INDEX tickets_created ON tickets(created_at);
CREATE INDEX tickets_tier_status ON tickets(tier, status);

CREATE TABLE ticket_photos (
    ticket_id      INTEGER NOT NULL REFERENCES tickets(id),
    stage          TEXT NOT NULL DEFAULT 'report', -- 'report' from the resident, 'after' from staff
    position       INTEGER NOT NULL,
    file_id        TEXT NOT NULL,
    file_unique_id TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (ticket_id, stage, position)
);

CREATE TABLE ticket_followers (
    ticket_id   INTEGER NOT NULL REFERENCES tickets(id),
    resident_id INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (ticket_id, resident_id)
);
CREATE INDEX ticket_followers_resident ON ticket_followers(resident_id);

-- Append-only: who did what, when.
CREATE TABLE ticket_events (
    id        INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    at        INTEGER NOT NULL,
    type      TEXT NOT NULL,
    actor_id  INTEGER,
    tier      TEXT,
    note      TEXT,
    data      TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX ticket_events_ticket ON ticket_events(ticket_id, id);
CREATE INDEX ticket_events_type_at ON ticket_events(type, at);

-- Messages owed to people, written in the same transaction as what caused them.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    chat_id         INTEGER NOT NULL,
    type            TEXT NOT NULL,
    ticket_id       INTEGER,
    data            TEXT NOT NULL DEFAULT '{}',
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    sent_at         INTEGER,
    dropped_reason  TEXT
);
CREATE INDEX outbox_pending ON outbox(next_attempt_at) WHERE sent_at IS NULL AND dropped_reason IS NULL;

CREATE TABLE settings_kv (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
