-- Figures officials can trust (domain/stats.py). Each deadline miss is an event in the log,
-- recorded once per tier and deadline; these columns say it was recorded for the current tier's
-- deadlines (cleared when a new tier takes the ticket), so that the watcher and a late action
-- never record it twice.
ALTER TABLE tickets ADD COLUMN reply_missed_at INTEGER;
ALTER TABLE tickets ADD COLUMN resolve_missed_at INTEGER;
