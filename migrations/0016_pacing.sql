-- Risk-tiered pacing (issue 28). The tier a message was paced in and when its stanza is planned
-- to go out (the agent's estimated send time); NULL until the worker planned it.
ALTER TABLE outbox ADD COLUMN tier TEXT CHECK (tier IN ('active', 'outreach'));
ALTER TABLE outbox ADD COLUMN planned_send_at INTEGER;
-- The head of each chat's queue (messages to one chat leave in order).
CREATE INDEX outbox_recipient_queued ON outbox (recipient, id) WHERE state = 'queued';
-- Reply-time samples end when WhatsApp acknowledged the reply: the message that stopped the clock.
ALTER TABLE response_times ADD COLUMN message_id INTEGER;
CREATE INDEX response_times_message ON response_times (message_id) WHERE message_id IS NOT NULL;
