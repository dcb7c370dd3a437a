-- How far each user has read each ticket: the inbox's unread counts are the customer's
-- messages after this point (per user, so two people sharing a ticket each have their own).
CREATE TABLE ticket_reads (
    user_id              INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    ticket_id            INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    last_read_message_id INTEGER NOT NULL,
    read_at              INTEGER NOT NULL,
    PRIMARY KEY (user_id, ticket_id)
) WITHOUT ROWID;
