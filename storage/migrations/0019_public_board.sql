-- The public board (曝光台, issue 15). A public report, or a suggestion where the town allows it,
-- is public only once town or village staff decided so: the text the public reads (edited from the
-- resident's, e.g. names and numbers taken out) and the report photos left out. The ticket keeps
-- the original; every decision is also an event in ticket_events. Rules: domain/board.py.
CREATE TABLE public_posts (
    ticket_id     INTEGER PRIMARY KEY REFERENCES tickets(id),
    decision      TEXT NOT NULL CHECK (decision IN ('public', 'private')),
    text          TEXT NOT NULL DEFAULT '',
    hidden_photos TEXT NOT NULL DEFAULT '[]',  -- positions of the report photos not shown (JSON)
    decided_at    INTEGER NOT NULL,
    decided_by    INTEGER NOT NULL
);
CREATE INDEX public_posts_decision ON public_posts(decision, ticket_id);
