-- Internal notes on tickets (never sent to the customer) and revoke requests for messages
-- already sent ("delete for everyone"), drained by the outbox worker before new sends.

CREATE TABLE ticket_notes (
    id             INTEGER PRIMARY KEY,
    ticket_id      INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    author_user_id INTEGER REFERENCES users (id),
    body           TEXT    NOT NULL,
    created_at     INTEGER NOT NULL
);
CREATE INDEX ticket_notes_ticket ON ticket_notes (ticket_id, id);

CREATE TABLE outbox_revokes (
    id              INTEGER PRIMARY KEY,
    message_id      INTEGER NOT NULL UNIQUE REFERENCES messages (id) ON DELETE CASCADE,
    recipient       TEXT    NOT NULL,
    wa_id           TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('queued', 'done', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    requested_by    INTEGER REFERENCES users (id),
    created_at      INTEGER NOT NULL,
    done_at         INTEGER
);
CREATE INDEX outbox_revokes_due ON outbox_revokes (state, next_attempt_at, id);
