-- Webhook mode (issue 14): each update Telegram posts is stored before it is answered 200 and
-- deleted once handled, so a process killed after answering loses nothing (web/webhook.py).
CREATE TABLE incoming_updates (
    update_id   INTEGER PRIMARY KEY,
    body        TEXT NOT NULL,          -- the update as Telegram sent it (JSON)
    received_at INTEGER NOT NULL
);
