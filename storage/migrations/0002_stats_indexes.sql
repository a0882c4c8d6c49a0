-- Officials' weekly statistics (storage/stats_sql.py): each index holds every column its
-- queries read, so a week of a million-ticket year is summed from the index alone.
-- A grid's week, with what the figures need.
CREATE INDEX tickets_grid_week ON tickets(
    grid_code, created_at, status, first_reply_at, resolved_at, resolved_tier, confirmed_at,
    rating, resolve_due_at
);
-- A category's week, for the top categories.
CREATE INDEX tickets_category_week ON tickets(category_code, created_at, grid_code);
-- Staff closings during a week, whenever the ticket came in.
CREATE INDEX tickets_resolved_at ON tickets(resolved_at, status, grid_code)
    WHERE resolved_at IS NOT NULL;
