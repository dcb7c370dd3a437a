-- Inbound attachments are stored at once and downloaded afterwards by the media worker
-- (pharmacy-service/src/whatsapp/media_worker.rs), so one message can no longer stall the
-- inbound loop.
--
-- messages.media_state: NULL (no attachment, or its file is stored), 'downloading',
-- 'failed' (gave up; an agent may retry) or 'too_large' (beyond the configured maximum:
-- never downloaded).
ALTER TABLE messages ADD COLUMN media_state TEXT
    CHECK (media_state IN ('downloading', 'failed', 'too_large'));

-- What a download needs until the file is stored (kept while 'failed' for a retry).
CREATE TABLE media_downloads (
    message_id      INTEGER PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    media_type      TEXT    NOT NULL,
    direct_path     TEXT,
    url             TEXT,
    media_key       BLOB    NOT NULL,
    file_sha256     BLOB    NOT NULL,
    file_enc_sha256 BLOB    NOT NULL,
    mime            TEXT    NOT NULL,
    file_length     INTEGER,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL
);
CREATE INDEX media_downloads_due ON media_downloads (next_attempt_at);
