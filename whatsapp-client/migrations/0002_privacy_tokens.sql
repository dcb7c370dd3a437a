-- Trusted-contact privacy tokens peers issued to us (part 2 §4.7); sent as <tctoken> on 1:1
-- messages to avoid error 463.
CREATE TABLE privacy_tokens (
    jid       TEXT PRIMARY KEY,
    token     BLOB    NOT NULL,
    timestamp INTEGER NOT NULL
);
