-- Which digests each official gets (/digest): weekly (the default), monthly, both or off.
-- On the users row, which /digest creates if the official never wrote to the bot before; an
-- official without a row gets the default. Rules: domain/digest.py.
ALTER TABLE users ADD COLUMN digest TEXT NOT NULL DEFAULT 'weekly'
    CHECK (digest IN ('weekly', 'monthly', 'both', 'off'));
