-- Several bot processes on one database (issue 14; PostgreSQL: migrations_pg/0022). An outbox row
-- or a stored webhook update is claimed by the process that sends or handles it, until
-- `claimed_until`: a process that dies holds it no longer than that, then another takes it over.
-- SQLite serves one process, which claims too, so both backends run the same statements.
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE outbox ADD COLUMN claimed_until INTEGER;
ALTER TABLE incoming_updates ADD COLUMN claimed_by TEXT;
ALTER TABLE incoming_updates ADD COLUMN claimed_until INTEGER;
