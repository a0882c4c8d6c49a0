-- Deadlines in working days (issue 12; SQLite: 0017). A category's limits count in its
-- deadline_unit; calendar_days holds the imported holidays (working = FALSE) and weekend days made
-- working days (调休, working = TRUE). Rules: domain/workdays.py.
ALTER TABLE categories RENAME COLUMN reply_hours TO reply_within;
ALTER TABLE categories RENAME COLUMN resolve_hours TO resolve_within;
ALTER TABLE categories ADD COLUMN deadline_unit TEXT NOT NULL DEFAULT 'hours'
    CHECK (deadline_unit IN ('hours', 'workdays'));

CREATE TABLE calendar_days (
    day     TEXT PRIMARY KEY,  -- YYYY-MM-DD, a day in TIMEZONE
    working BOOLEAN NOT NULL
);
