-- When we last issued our own trusted-contact token to each user (at most once per 7-day
-- bucket, whatsmeow tctoken.go), and the account's NCT salt for the cstoken fallback
-- (whatsmeow cstoken.go; from history sync or the nct_salt_sync app-state action).
CREATE TABLE privacy_tokens_issued (
    jid       TEXT PRIMARY KEY,
    timestamp INTEGER NOT NULL
);

CREATE TABLE nct_salt (
    id   INTEGER PRIMARY KEY CHECK (id = 0),
    salt BLOB NOT NULL
);
