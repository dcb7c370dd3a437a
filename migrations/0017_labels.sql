-- Conversation labels (the reason a customer wrote: prescription, delivery, price question,
-- complaint, stock request, ...): defined by admins, set on tickets by the agents working them,
-- filterable in the inbox and counted in the reports. A label is archived, never deleted, so
-- past tickets and reports keep it.
CREATE TABLE labels (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    -- One of the palette's names (domain::label::LabelColor).
    color       TEXT    NOT NULL,
    archived_at INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
-- Two labels in use never share a name (case-insensitive for Latin letters).
CREATE UNIQUE INDEX labels_active_name ON labels (name COLLATE NOCASE) WHERE archived_at IS NULL;

CREATE TABLE ticket_labels (
    ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    label_id  INTEGER NOT NULL REFERENCES labels (id),
    added_by  INTEGER REFERENCES users (id),
    added_at  INTEGER NOT NULL,
    PRIMARY KEY (ticket_id, label_id)
) WITHOUT ROWID;
CREATE INDEX ticket_labels_label ON ticket_labels (label_id, ticket_id);

-- The reasons a pharmacy starts with (Arabic, as the agents write; admins rename or archive).
INSERT INTO labels (name, color, created_at, updated_at) VALUES
    ('روشتة', 'blue', 0, 0),
    ('توصيل', 'green', 0, 0),
    ('سؤال عن سعر', 'yellow', 0, 0),
    ('شكوى', 'red', 0, 0),
    ('طلب صنف ناقص', 'purple', 0, 0);
