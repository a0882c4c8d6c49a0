-- Several bot processes on one database (issue 14; SQLite: 0022). An outbox row or a stored webhook
-- update is claimed by the process that sends or handles it, until `claimed_until`: a process that
-- dies holds it no longer than that, then another takes it over.
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE outbox ADD COLUMN claimed_until BIGINT;
ALTER TABLE incoming_updates ADD COLUMN claimed_by TEXT;
ALTER TABLE incoming_updates ADD COLUMN claimed_until BIGINT;

-- Telegram's limits are the bot's, whichever process sends: the next free moment overall (one row)
-- and per chat, in seconds of the database's clock (bot/pacing.py, SharedLimiter). Only PostgreSQL
-- has them: a SQLite database serves one process, which paces itself in memory.
CREATE TABLE send_pace (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    free_at DOUBLE PRECISION NOT NULL
);
INSERT INTO send_pace(id, free_at) VALUES (1, 0);
CREATE TABLE chat_pace (
    chat_id TEXT PRIMARY KEY,
    free_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX chat_pace_free_at ON chat_pace(free_at);
