-- Inbound II: every kind a customer sends is stored as a message of its own kind
-- (pharmacy-service/src/domain/message.rs lists the kinds), its structured parts in typed
-- columns and tables rather than in the text. The spellings of messages.kind, direction,
-- sender_kind and status are unchanged; the new kinds are new spellings.

-- A view-once attachment that did reach us (the media's own flag or a view-once wrapper).
ALTER TABLE messages ADD COLUMN view_once INTEGER NOT NULL DEFAULT 0;
-- Button, list, template and interactive answers: the id of what was picked, and more
-- (a list row's description, a flow's JSON parameters). The answer's text is the body.
ALTER TABLE messages ADD COLUMN reply_id TEXT;
ALTER TABLE messages ADD COLUMN reply_detail TEXT;
-- A live location: when its last position (latitude, longitude) arrived.
ALTER TABLE messages ADD COLUMN location_updated_at INTEGER;
-- A poll: how many options a voter may pick (0: any number). The question is the body.
ALTER TABLE messages ADD COLUMN poll_selectable INTEGER;

CREATE TABLE message_poll_options (
    message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    name       TEXT    NOT NULL,
    PRIMARY KEY (message_id, position)
);

-- Each voter's current choice: a new vote replaces the voter's rows (an empty vote removes
-- them), as WhatsApp votes carry the whole selection.
CREATE TABLE message_poll_votes (
    message_id  INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    position    INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    PRIMARY KEY (message_id, customer_id, position)
);

-- The cards of a contact message, in order (one for a single card).
CREATE TABLE message_contacts (
    message_id   INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,
    display_name TEXT,
    vcard        TEXT,
    PRIMARY KEY (message_id, position)
);

-- Every position of a live location, the first one included; wa_id deduplicates redelivery.
CREATE TABLE live_location_updates (
    id         INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    wa_id      TEXT    NOT NULL UNIQUE,
    latitude   REAL    NOT NULL,
    longitude  REAL    NOT NULL,
    sequence   INTEGER,
    at         INTEGER NOT NULL
);
CREATE INDEX live_location_updates_message ON live_location_updates (message_id, id);
