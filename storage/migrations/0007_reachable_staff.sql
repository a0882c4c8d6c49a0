-- Reachable holders (issue 9): a person is reachable once they have written to the bot and until
-- they block it. `opened_at` is when they first wrote; rows made for someone who never wrote (a
-- notice that bounced) have none. Users stored before this migration had all written, except
-- those marked unreachable, who count as having written too (they blocked the bot).
ALTER TABLE users ADD COLUMN opened_at INTEGER;
UPDATE users SET opened_at = created_at;

-- The tier a ticket belongs at while it is held above it because nobody there can be reached
-- (NULL when it is held at its own tier). When someone there opens the bot, the tickets nobody
-- has taken come back to them.
ALTER TABLE tickets ADD COLUMN waiting_tier TEXT;
CREATE INDEX tickets_waiting ON tickets(waiting_tier) WHERE waiting_tier IS NOT NULL;
