-- Figures officials can trust (domain/stats.py). Each deadline miss is an event in the log,
-- recorded once per tier and deadline; these columns say it was recorded for the current tier's
-- deadlines (cleared when a new tier takes the ticket), so that the watcher and a late action
-- never record it twice.
ALTER TABLE tickets ADD COLUMN reply_missed_at INTEGER;
ALTER TABLE tickets ADD COLUMN resolve_missed_at INTEGER;

-- Each event carries the ticket's status right after it (as `tier` carries its tier), so the
-- state of a ticket at the end of any period is the one of its last event before then.
ALTER TABLE ticket_events ADD COLUMN status TEXT;
-- Earlier events: the status each kind of event leads to. Exact except a reply or a resident's
-- answer that left a reopened ticket reopened (taken here as in progress).
UPDATE ticket_events SET status = CASE type
    WHEN 'created' THEN 'new'
    WHEN 'taken' THEN 'in_progress'
    WHEN 'replied' THEN CASE WHEN json_extract(data, '$.ask') THEN 'waiting_resident' ELSE 'in_progress' END
    WHEN 'resident_message' THEN 'in_progress'
    WHEN 'resolved' THEN 'resolved'
    WHEN 'confirmed' THEN 'closed'
    WHEN 'rated' THEN 'closed'
    WHEN 'reopened' THEN 'reopened'
    WHEN 'escalated' THEN 'new'
    WHEN 'handed_over' THEN 'new'
    WHEN 'returned' THEN 'new'
    WHEN 'merged' THEN 'merged'
END;
-- Statistics read a period's tickets and their events from this index alone.
CREATE INDEX ticket_events_facts ON ticket_events(ticket_id, at, type, status, tier, data);

-- The sums of a period that is over, stored the first time they are asked for and never
-- rewritten: a closed period's figures cannot change, and summing a week of a million-ticket
-- year from its events takes a few hundred milliseconds (storage/stats_sql.py).
CREATE TABLE closed_period_rows (
    start       INTEGER NOT NULL,
    end         INTEGER NOT NULL,
    scope_level TEXT NOT NULL,
    scope_name  TEXT NOT NULL,
    rows        TEXT NOT NULL,          -- PeriodRows as JSON
    PRIMARY KEY (start, end, scope_level, scope_name)
);
