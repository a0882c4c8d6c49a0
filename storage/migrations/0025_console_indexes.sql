-- The console's ticket list (issue 16, storage/sql.py `console_tickets`): a department's
-- tickets by age with their status; the open tickets by deadline (as the deadline watcher reads
-- them) now with what says whether they are overdue, so that counting them reads the index
-- alone, not the million rows (bench/console_bench.py).
CREATE INDEX tickets_console_department ON tickets(department, created_at, status);
DROP INDEX tickets_open_due;
CREATE INDEX tickets_open_due ON tickets(resolve_due_at, first_reply_at, reply_due_at, status)
    WHERE status IN ('new', 'in_progress', 'reopened');
