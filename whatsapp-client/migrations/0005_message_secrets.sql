-- The messageContextInfo.messageSecret of messages received or sent (polls above all): a
-- vote is sealed under a key derived from its poll's secret (whatsmeow
-- store/sqlstore/upgrades/03-message-secrets.sql, whatsmeow_message_secrets). Chat and sender
-- are JIDs without device; the first secret stored for a message stays.
CREATE TABLE message_secrets (
    chat       TEXT NOT NULL,
    sender     TEXT NOT NULL,
    message_id TEXT NOT NULL,
    secret     BLOB NOT NULL,
    PRIMARY KEY (chat, sender, message_id)
);
