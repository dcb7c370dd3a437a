-- Durable webhook queueing (issue 29 follow-up): how far the webhook queuer has turned committed
-- messages and ticket journal events into `webhook_deliveries`. Advanced in the same
-- transaction as the deliveries it covers, so a crash neither loses nor repeats an event.
-- Starts at today's newest rows: history from before this migration is not replayed.
CREATE TABLE webhook_cursor (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    message_id      INTEGER NOT NULL,
    ticket_event_id INTEGER NOT NULL
);
INSERT INTO webhook_cursor (id, message_id, ticket_event_id)
VALUES (1, COALESCE((SELECT MAX(id) FROM messages), 0),
        COALESCE((SELECT MAX(id) FROM ticket_events), 0));

-- The retention sweep deletes finished deliveries by age.
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (finished_at) WHERE finished_at IS NOT NULL;
