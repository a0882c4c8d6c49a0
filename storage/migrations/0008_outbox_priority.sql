-- Within one chat, urgent notices (cards, reminders, escalations, urges, confirmations to whoever
-- acted: 0) go ahead of chatter (a resident's answers, ratings, status lines: 1); in order within each.
ALTER TABLE outbox ADD COLUMN priority INTEGER NOT NULL DEFAULT 1;
