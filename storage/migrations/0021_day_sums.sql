-- Figures by the day (storage/stats_sql.py). Once a local day is over its changes to the
-- figures are summed and stored, never rewritten: a week, month, quarter or range of days that
-- are over is a sum over these rows, and a closed period cannot change.

-- Replaced by the day sums: they made only the second reader of a period fast, and froze the
-- grids' names at the first.
DROP TABLE IF EXISTS closed_period_rows;
-- A database that took these tables as migration 13 (landed, then withdrawn for a while) sums its
-- days again.
DROP TABLE IF EXISTS stats_days;
DROP TABLE IF EXISTS stats_ticket_facts;
DROP TABLE IF EXISTS stats_day_sums;
DROP TABLE IF EXISTS stats_day_categories;
DROP TABLE IF EXISTS stats_day_durations;
DROP TABLE IF EXISTS stats_periods;
DROP TABLE IF EXISTS stats_period_sums;
DROP TABLE IF EXISTS stats_period_days;
DROP TABLE IF EXISTS stats_period_categories;
DROP TABLE IF EXISTS stats_period_durations;

-- The days summed so far, one after the other: their bounds (Unix seconds) and the last event of
-- the log when each was summed. An event recorded later counts on a later day (the first one
-- not yet summed when it was recorded), however early its time.
CREATE TABLE stats_days (
    day_start     INTEGER PRIMARY KEY,
    day_end       INTEGER NOT NULL,
    last_event_id INTEGER NOT NULL
);

-- Each ticket's facts as of the end of the last day summed (the columns of the facts table in
-- storage/stats_sql.py): the next day's change is its facts then minus these.
CREATE TABLE stats_ticket_facts (
    id INTEGER PRIMARY KEY, grid_code TEXT, category_code TEXT, department TEXT,
    created_at INTEGER, received INTEGER, status INTEGER, tier INTEGER, response_at INTEGER,
    responded_on_time INTEGER, closed_at INTEGER, closed_tier INTEGER, closed_late INTEGER,
    first_time INTEGER, overdue INTEGER, reopened INTEGER, returned INTEGER, urges INTEGER,
    confirmed INTEGER, stars INTEGER, auto_closed INTEGER, visit INTEGER, visit_outcome INTEGER
);

-- What day `day` (its first moment) changed in the counts (domain.stats.Tally) of the tickets of
-- `grid_code` received, or closed, on day `key_day`, held then by `department` ('' when no
-- department held them). The counts of a period are the sums over its key days, as changed by
-- the days up to its end.
CREATE TABLE stats_day_sums (
    grid_code TEXT NOT NULL, key_day INTEGER NOT NULL, day INTEGER NOT NULL, department TEXT NOT NULL,
    received INTEGER NOT NULL, merged INTEGER NOT NULL, responded INTEGER NOT NULL,
    responded_on_time INTEGER NOT NULL, response_seconds INTEGER NOT NULL, completed INTEGER NOT NULL,
    overdue INTEGER NOT NULL, reopened INTEGER NOT NULL, returned INTEGER NOT NULL, urges INTEGER NOT NULL,
    closed INTEGER NOT NULL, closed_on_time INTEGER NOT NULL, first_time INTEGER NOT NULL,
    confirmed INTEGER NOT NULL, rated INTEGER NOT NULL, satisfied INTEGER NOT NULL,
    close_seconds INTEGER NOT NULL, closed_in_grid INTEGER NOT NULL, closed_in_village INTEGER NOT NULL,
    closed_in_town INTEGER NOT NULL, closed_in_department INTEGER NOT NULL, withdrawn INTEGER NOT NULL,
    auto_closed INTEGER NOT NULL, visits INTEGER NOT NULL,
    visits_satisfied INTEGER NOT NULL, visits_basically_satisfied INTEGER NOT NULL, visits_unsatisfied INTEGER NOT NULL,
    PRIMARY KEY (grid_code, key_day, day, department)
) WITHOUT ROWID;

-- The same for the tickets received by category.
CREATE TABLE stats_day_categories (
    grid_code TEXT NOT NULL, key_day INTEGER NOT NULL, day INTEGER NOT NULL, category_code TEXT NOT NULL,
    received INTEGER NOT NULL,
    PRIMARY KEY (grid_code, key_day, day, category_code)
) WITHOUT ROWID;

-- And for the durations the 90th percentiles are taken from, exactly: how many tickets took
-- `seconds` to their first response (kind 0, received on key_day) or to their closing (kind 1,
-- closed on key_day).
CREATE TABLE stats_day_durations (
    grid_code TEXT NOT NULL, key_day INTEGER NOT NULL, day INTEGER NOT NULL, kind INTEGER NOT NULL,
    seconds INTEGER NOT NULL, tickets INTEGER NOT NULL,
    PRIMARY KEY (kind, grid_code, key_day, day, seconds)
) WITHOUT ROWID;

-- The sums of each calendar week, month and quarter, added up from the day tables once its last
-- day is summed (the periods officials read most, read back at once): which periods, then their
-- counts by grid and department, by grid and day, by grid and category, and their durations.
CREATE TABLE stats_periods (
    period_start INTEGER NOT NULL, period_end INTEGER NOT NULL,
    PRIMARY KEY (period_start, period_end)
) WITHOUT ROWID;
CREATE TABLE stats_period_sums (
    period_start INTEGER NOT NULL, period_end INTEGER NOT NULL, grid_code TEXT NOT NULL, department TEXT NOT NULL,
    received INTEGER NOT NULL, merged INTEGER NOT NULL, responded INTEGER NOT NULL,
    responded_on_time INTEGER NOT NULL, response_seconds INTEGER NOT NULL, completed INTEGER NOT NULL,
    overdue INTEGER NOT NULL, reopened INTEGER NOT NULL, returned INTEGER NOT NULL, urges INTEGER NOT NULL,
    closed INTEGER NOT NULL, closed_on_time INTEGER NOT NULL, first_time INTEGER NOT NULL,
    confirmed INTEGER NOT NULL, rated INTEGER NOT NULL, satisfied INTEGER NOT NULL,
    close_seconds INTEGER NOT NULL, closed_in_grid INTEGER NOT NULL, closed_in_village INTEGER NOT NULL,
    closed_in_town INTEGER NOT NULL, closed_in_department INTEGER NOT NULL, withdrawn INTEGER NOT NULL,
    auto_closed INTEGER NOT NULL, visits INTEGER NOT NULL,
    visits_satisfied INTEGER NOT NULL, visits_basically_satisfied INTEGER NOT NULL, visits_unsatisfied INTEGER NOT NULL,
    PRIMARY KEY (period_start, period_end, grid_code, department)
) WITHOUT ROWID;
CREATE TABLE stats_period_days (
    period_start INTEGER NOT NULL, period_end INTEGER NOT NULL, grid_code TEXT NOT NULL, key_day INTEGER NOT NULL,
    received INTEGER NOT NULL, closed INTEGER NOT NULL,
    PRIMARY KEY (period_start, period_end, grid_code, key_day)
) WITHOUT ROWID;
CREATE TABLE stats_period_categories (
    period_start INTEGER NOT NULL, period_end INTEGER NOT NULL, grid_code TEXT NOT NULL, category_code TEXT NOT NULL,
    received INTEGER NOT NULL,
    PRIMARY KEY (period_start, period_end, grid_code, category_code)
) WITHOUT ROWID;
-- Largest first from the key, so that a 90th percentile reads only the top tenth.
CREATE TABLE stats_period_durations (
    period_start INTEGER NOT NULL, period_end INTEGER NOT NULL, kind INTEGER NOT NULL, seconds INTEGER NOT NULL,
    grid_code TEXT NOT NULL, tickets INTEGER NOT NULL,
    PRIMARY KEY (period_start, period_end, kind, seconds, grid_code)
) WITHOUT ROWID;
