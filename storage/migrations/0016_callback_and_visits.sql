-- Residents as they are (issue 12): call-back (回电), closing unconfirmed tickets, return visits (回访).

-- The number a resident shared with Telegram's contact button to be called back about this ticket
-- (never a typed one): shown only to the staff who hold the ticket, erased PHONE_RETENTION_DAYS
-- after it closed. A number on the users row was kept for no ticket and shown on every card of
-- the resident's that shared a name: it goes.
ALTER TABLE tickets ADD COLUMN callback_phone TEXT;
ALTER TABLE users DROP COLUMN phone;
-- When the ticket was closed for good (confirmed, closed without confirmation, merged, ...): set
-- once, by storage, when a change leaves it neither open nor resolved.
ALTER TABLE tickets ADD COLUMN closed_at INTEGER;
UPDATE tickets SET closed_at = (SELECT MAX(e.at) FROM ticket_events e WHERE e.ticket_id = tickets.id)
    WHERE status NOT IN ('new', 'in_progress', 'waiting_resident', 'reopened', 'resolved');
CREATE INDEX tickets_callback_phone ON tickets(closed_at) WHERE callback_phone IS NOT NULL;
-- When the resident was reminded to confirm the latest resolution: one reminder per resolution
-- (a reminder older than resolved_at belongs to an earlier one).
ALTER TABLE tickets ADD COLUMN confirm_reminded_at INTEGER;
CREATE INDEX tickets_awaiting_confirmation ON tickets(resolved_at) WHERE status = 'resolved';

-- A return visit (回访): the village (or the town, for tickets closed above the village) contacts
-- a resident who rated a ticket 1-2 stars or said twice it is not solved, and records the outcome
-- (the note is on the ticket's RETURN_VISITED event). One per ticket and reason.
CREATE TABLE return_visits (
    id         INTEGER PRIMARY KEY,
    ticket_id  INTEGER NOT NULL REFERENCES tickets(id),
    reason     TEXT NOT NULL CHECK (reason IN ('low_rating', 'reopened_twice')),
    tier       TEXT NOT NULL CHECK (tier IN ('village', 'town')),
    created_at INTEGER NOT NULL,
    visited_at INTEGER,
    visitor_id INTEGER,
    outcome    TEXT CHECK (outcome IN ('satisfied', 'basically_satisfied', 'unsatisfied')),
    UNIQUE (ticket_id, reason)
);
CREATE INDEX return_visits_pending ON return_visits(tier, created_at) WHERE visited_at IS NULL;
