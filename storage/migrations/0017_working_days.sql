-- Deadlines in working days (issue 12). A category's reply and resolve limits count in its
-- deadline_unit: hours of calendar time (as before) or working days. Working days are Monday to
-- Friday unless calendar_days, imported with `gridbot import calendar`, says otherwise: a holiday
-- (working = 0) or a weekend day made a working day (调休, working = 1). Rules: domain/workdays.py.
ALTER TABLE categories RENAME COLUMN reply_hours TO reply_within;
ALTER TABLE categories RENAME COLUMN resolve_hours TO resolve_within;
ALTER TABLE categories ADD COLUMN deadline_unit TEXT NOT NULL DEFAULT 'hours'
    CHECK (deadline_unit IN ('hours', 'workdays'));

CREATE TABLE calendar_days (
    day     TEXT PRIMARY KEY,  -- YYYY-MM-DD, a day in TIMEZONE
    working INTEGER NOT NULL CHECK (working IN (0, 1))
) WITHOUT ROWID;
