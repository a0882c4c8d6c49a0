-- The board's mirror in a Telegram channel (PUBLIC_CHANNEL_ID, issue 15): the message that shows
-- each approved ticket there, kept to edit it as the ticket moves. Rules: bot/channel.py.
CREATE TABLE channel_posts (
    ticket_id  INTEGER PRIMARY KEY REFERENCES tickets(id),
    message_id INTEGER NOT NULL,
    with_photo BOOLEAN NOT NULL  -- a photo with a caption, or a text message
);
