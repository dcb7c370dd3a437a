-- The one-time move of every phone-number session, identity and sender key with a known LID
-- to that LID (whatsmeow MigratePNToLID, run over the whole store): once it ran, the login
-- payload says lidDbMigrated=true. One row, present once the migration ran.
CREATE TABLE lid_migration (
    id INTEGER PRIMARY KEY CHECK (id = 1)
);
