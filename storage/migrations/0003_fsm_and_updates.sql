-- Forms in progress (aiogram FSM), so a resident can go on after a restart. `key` is built by
-- bot/fsm_storage.py from the bot, chat and user; a finished form has no row.
CREATE TABLE fsm_states (
    key        TEXT PRIMARY KEY,
    state      TEXT,
    data       TEXT NOT NULL DEFAULT '{}',
    updated_at INTEGER NOT NULL
);

-- Telegram updates already handled: one delivered again after a restart is skipped. Rows older
-- than two days are deleted (Telegram redelivers only unconfirmed, recent updates).
CREATE TABLE handled_updates (
    update_id  INTEGER PRIMARY KEY,
    handled_at INTEGER NOT NULL
);
CREATE INDEX handled_updates_at ON handled_updates(handled_at);
