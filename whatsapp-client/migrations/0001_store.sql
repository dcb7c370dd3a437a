-- whatsapp-client session store. Its own database file, its own migration set.
CREATE TABLE device (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    noise_key       BLOB    NOT NULL,
    identity_key    BLOB    NOT NULL,
    registration_id INTEGER NOT NULL,
    signed_prekey   BLOB    NOT NULL,
    adv_secret      BLOB    NOT NULL,
    account         BLOB,
    jid             TEXT,
    lid             TEXT,
    push_name       TEXT    NOT NULL DEFAULT '',
    platform        TEXT    NOT NULL DEFAULT '',
    business_name   TEXT    NOT NULL DEFAULT ''
);

CREATE TABLE prekeys (
    id       INTEGER PRIMARY KEY,
    record   BLOB    NOT NULL,
    uploaded INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE sessions (
    address TEXT PRIMARY KEY,
    record  BLOB NOT NULL
);

CREATE TABLE identities (
    address TEXT PRIMARY KEY,
    key     BLOB NOT NULL
);

CREATE TABLE sender_keys (
    group_id TEXT NOT NULL,
    sender   TEXT NOT NULL,
    record   BLOB NOT NULL,
    PRIMARY KEY (group_id, sender)
);

CREATE TABLE app_state_keys (
    key_id BLOB PRIMARY KEY,
    data   BLOB NOT NULL
);

CREATE TABLE app_state_versions (
    name    TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    hash    BLOB    NOT NULL
);

CREATE TABLE lid_map (
    lid TEXT PRIMARY KEY,
    pn  TEXT NOT NULL UNIQUE
);

CREATE TABLE contacts (
    jid       TEXT PRIMARY KEY,
    push_name TEXT,
    full_name TEXT
);

CREATE TABLE sent_messages (
    chat       TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    message    BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (chat, id)
);

-- Decrypted plaintext keyed by ciphertext hash: a redelivered stanza decrypts nothing twice.
CREATE TABLE decrypted (
    hash       BLOB PRIMARY KEY,
    sender     TEXT    NOT NULL,
    message_id TEXT    NOT NULL,
    plaintext  BLOB    NOT NULL,
    created_at INTEGER NOT NULL
);
