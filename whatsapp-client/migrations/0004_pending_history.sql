-- History-sync notifications from our phone kept until their chunk is imported: the message
-- that carries one is acknowledged at once, so a crash during the download would otherwise
-- lose the chunk (the phone does not send it again). Order of arrival = rowid.
CREATE TABLE pending_history (
    message_id   TEXT PRIMARY KEY,
    notification BLOB NOT NULL
);
