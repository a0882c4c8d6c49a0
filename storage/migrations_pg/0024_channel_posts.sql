-- The board's mirror in a Telegram channel (issue 15; SQLite: 0024): the message of each ticket.
CREATE TABLE channel_posts (
    ticket_id  BIGINT PRIMARY KEY REFERENCES tickets(id),
    message_id BIGINT NOT NULL,
    with_photo BOOLEAN NOT NULL  -- a photo with a caption, or a text message
);
