-- Tickets the switch-over import brought in open or pending (issue 34): the time of the import
-- while nobody has reviewed them yet. The inactivity job leaves them alone until an admin or
-- their agent keeps (NULL again, inactivity clock restarted), reassigns or closes them.
ALTER TABLE tickets ADD COLUMN carried_over_at INTEGER;
CREATE INDEX tickets_carried_over ON tickets (carried_over_at) WHERE carried_over_at IS NOT NULL;
