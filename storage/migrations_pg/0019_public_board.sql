-- The public board (曝光台, issue 15; SQLite: 0019): what town or village staff decided the public
-- may read of a public report or suggestion. Rules: domain/board.py.
CREATE TABLE public_posts (
    ticket_id     BIGINT PRIMARY KEY REFERENCES tickets(id),
    decision      TEXT NOT NULL CHECK (decision IN ('public', 'private')),
    text          TEXT NOT NULL DEFAULT '',
    hidden_photos TEXT NOT NULL DEFAULT '[]',  -- positions of the report photos not shown (JSON)
    decided_at    BIGINT NOT NULL,
    decided_by    BIGINT NOT NULL
);
CREATE INDEX public_posts_decision ON public_posts(decision, ticket_id);
