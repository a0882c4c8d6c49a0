-- Voice messages, videos and video notes as well as photos (issue 12; SQLite: 0015): the photos
-- table becomes the attachments table, each row with its kind.
ALTER TABLE ticket_photos RENAME TO ticket_attachments;
ALTER TABLE ticket_attachments ADD COLUMN kind TEXT NOT NULL DEFAULT 'photo'
    CHECK (kind IN ('photo', 'video', 'voice', 'video_note'));
