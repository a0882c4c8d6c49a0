-- Webhook mode (issue 14; SQLite: 0020): each update Telegram posts is stored before it is
-- answered 200 and deleted once handled, so a process killed after answering loses nothing.
CREATE TABLE incoming_updates (
    update_id   BIGINT PRIMARY KEY,
    body        TEXT NOT NULL,          -- the update as Telegram sent it (JSON)
    received_at BIGINT NOT NULL
);
