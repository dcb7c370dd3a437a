-- App-state sync (part 2 §8.5): when each sync key was made, so patches we send use the newest
-- (whatsmeow GetLatestAppStateSyncKeyID), and the index MAC -> value MAC map of every live
-- record per collection, so patches apply incrementally across restarts.
ALTER TABLE app_state_keys ADD COLUMN timestamp INTEGER NOT NULL DEFAULT 0;

CREATE TABLE app_state_mutation_macs (
    name      TEXT NOT NULL,
    index_mac BLOB NOT NULL,
    value_mac BLOB NOT NULL,
    PRIMARY KEY (name, index_mac)
);
