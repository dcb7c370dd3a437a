-- The inbox lists tickets by last activity, newest first; walking this index in order lets a
-- filtered page stop at its LIMIT instead of sorting every ticket.
CREATE INDEX tickets_activity ON tickets (last_activity_at DESC, id DESC);
