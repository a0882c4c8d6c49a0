-- Deadlines live here, not in memory timers: after a restart the watcher finds what is due.
-- paused_at: set while the ticket waits for the resident's answer (its clock stops).
-- reminded_at: when the holder was reminded of the current deadline (reset on escalation).
-- tier_since: when the current tier took the ticket; its deadlines count from then.
ALTER TABLE tickets ADD COLUMN tier_since INTEGER;
UPDATE tickets SET tier_since = created_at;
ALTER TABLE tickets ADD COLUMN paused_at INTEGER;
ALTER TABLE tickets ADD COLUMN reminded_at INTEGER;
CREATE INDEX tickets_open_due ON tickets(resolve_due_at) WHERE status IN ('new', 'in_progress', 'reopened');
