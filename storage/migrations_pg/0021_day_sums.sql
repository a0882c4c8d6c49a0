-- The PostgreSQL twin of migrations/0021_day_sums.sql (the comments there say why).
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
    day_start     BIGINT PRIMARY KEY,
    day_end       BIGINT NOT NULL,
    last_event_id BIGINT NOT NULL
);

-- Each ticket's facts as of the end of the last day summed (the columns of the facts table in
-- storage/stats_sql.py): the next day's change is its facts then minus these.
CREATE TABLE stats_ticket_facts (
    id BIGINT PRIMARY KEY, grid_code TEXT, category_code TEXT, department TEXT,
    created_at BIGINT, received BOOLEAN, status BIGINT, tier BIGINT, response_at BIGINT,
    responded_on_time BOOLEAN, closed_at BIGINT, closed_tier BIGINT, closed_late BOOLEAN,
    first_time BOOLEAN, overdue BOOLEAN, reopened BOOLEAN, returned BOOLEAN, urges BIGINT,
    confirmed BOOLEAN, stars BIGINT, auto_closed BOOLEAN, visit BOOLEAN, visit_outcome BIGINT
);

-- What day `day` (its first moment) changed in the counts (domain.stats.Tally) of the tickets of
-- `grid_code` received, or closed, on day `key_day`, held then by `department` ('' when no
-- department held them). The counts of a period are the sums over its key days, as changed by
-- the days up to its end.
CREATE TABLE stats_day_sums (
    grid_code TEXT NOT NULL, key_day BIGINT NOT NULL, day BIGINT NOT NULL, department TEXT NOT NULL,
    received BIGINT NOT NULL, merged BIGINT NOT NULL, responded BIGINT NOT NULL,
    responded_on_time BIGINT NOT NULL, response_seconds BIGINT NOT NULL, completed BIGINT NOT NULL,
    overdue BIGINT NOT NULL, reopened BIGINT NOT NULL, returned BIGINT NOT NULL, urges BIGINT NOT NULL,
    closed BIGINT NOT NULL, closed_on_time BIGINT NOT NULL, first_time BIGINT NOT NULL,
    confirmed BIGINT NOT NULL, rated BIGINT NOT NULL, satisfied BIGINT NOT NULL,
    close_seconds BIGINT NOT NULL, closed_in_grid BIGINT NOT NULL, closed_in_village BIGINT NOT NULL,
    closed_in_town BIGINT NOT NULL, closed_in_department BIGINT NOT NULL, withdrawn BIGINT NOT NULL,
    auto_closed BIGINT NOT NULL, visits BIGINT NOT NULL,
    visits_satisfied BIGINT NOT NULL, visits_basically_satisfied BIGINT NOT NULL, visits_unsatisfied BIGINT NOT NULL,
    PRIMARY KEY (grid_code, key_day, day, department)
);

-- The same for the tickets received by category.
CREATE TABLE stats_day_categories (
    grid_code TEXT NOT NULL, key_day BIGINT NOT NULL, day BIGINT NOT NULL, category_code TEXT NOT NULL,
    received BIGINT NOT NULL,
    PRIMARY KEY (grid_code, key_day, day, category_code)
);

-- And for the durations the 90th percentiles are taken from, exactly: how many tickets took
-- `seconds` to their first response (kind 0, received on key_day) or to their closing (kind 1,
-- closed on key_day).
CREATE TABLE stats_day_durations (
    grid_code TEXT NOT NULL, key_day BIGINT NOT NULL, day BIGINT NOT NULL, kind BIGINT NOT NULL,
    seconds BIGINT NOT NULL, tickets BIGINT NOT NULL,
    PRIMARY KEY (kind, grid_code, key_day, day, seconds)
);

-- The sums of each calendar week, month and quarter, added up from the day tables once its last
-- day is summed (the periods officials read most, read back at once): which periods, then their
-- counts by grid and department, by grid and day, by grid and category, and their durations.
CREATE TABLE stats_periods (
    period_start BIGINT NOT NULL, period_end BIGINT NOT NULL,
    PRIMARY KEY (period_start, period_end)
);
CREATE TABLE stats_period_sums (
    period_start BIGINT NOT NULL, period_end BIGINT NOT NULL, grid_code TEXT NOT NULL, department TEXT NOT NULL,
    received BIGINT NOT NULL, merged BIGINT NOT NULL, responded BIGINT NOT NULL,
    responded_on_time BIGINT NOT NULL, response_seconds BIGINT NOT NULL, completed BIGINT NOT NULL,
    overdue BIGINT NOT NULL, reopened BIGINT NOT NULL, returned BIGINT NOT NULL, urges BIGINT NOT NULL,
    closed BIGINT NOT NULL, closed_on_time BIGINT NOT NULL, first_time BIGINT NOT NULL,
    confirmed BIGINT NOT NULL, rated BIGINT NOT NULL, satisfied BIGINT NOT NULL,
    close_seconds BIGINT NOT NULL, closed_in_grid BIGINT NOT NULL, closed_in_village BIGINT NOT NULL,
    closed_in_town BIGINT NOT NULL, closed_in_department BIGINT NOT NULL, withdrawn BIGINT NOT NULL,
    auto_closed BIGINT NOT NULL, visits BIGINT NOT NULL,
    visits_satisfied BIGINT NOT NULL, visits_basically_satisfied BIGINT NOT NULL, visits_unsatisfied BIGINT NOT NULL,
    PRIMARY KEY (period_start, period_end, grid_code, department)
);
CREATE TABLE stats_period_days (
    period_start BIGINT NOT NULL, period_end BIGINT NOT NULL, grid_code TEXT NOT NULL, key_day BIGINT NOT NULL,
    received BIGINT NOT NULL, closed BIGINT NOT NULL,
    PRIMARY KEY (period_start, period_end, grid_code, key_day)
);
CREATE TABLE stats_period_categories (
    period_start BIGINT NOT NULL, period_end BIGINT NOT NULL, grid_code TEXT NOT NULL, category_code TEXT NOT NULL,
    received BIGINT NOT NULL,
    PRIMARY KEY (period_start, period_end, grid_code, category_code)
);
-- Largest first from the key, so that a 90th percentile reads only the top tenth.
CREATE TABLE stats_period_durations (
    period_start BIGINT NOT NULL, period_end BIGINT NOT NULL, kind BIGINT NOT NULL, seconds BIGINT NOT NULL,
    grid_code TEXT NOT NULL, tickets BIGINT NOT NULL,
    PRIMARY KEY (period_start, period_end, kind, seconds, grid_code)
);
