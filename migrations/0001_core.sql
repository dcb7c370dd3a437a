-- pharmacy-service core schema. Times are INTEGER milliseconds since the Unix epoch (UTC);
-- local days and hours are derived in Rust in the configured time zone (default Africa/Cairo).

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    name          TEXT    NOT NULL,
    email         TEXT,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'agent')),
    is_active     INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL
);

CREATE TABLE branches (
    id         INTEGER PRIMARY KEY,
    code       TEXT    NOT NULL UNIQUE,
    name       TEXT    NOT NULL,
    name_ar    TEXT    NOT NULL,
    address    TEXT    NOT NULL,
    phone      TEXT,
    latitude   REAL    NOT NULL,
    longitude  REAL    NOT NULL,
    -- WeeklyHours as JSON: seven lists (Monday first) of {"start","end"} minutes of the day.
    hours_json TEXT    NOT NULL,
    is_active  INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL
);

-- branch_id NULL = a holiday of every branch (national holidays).
CREATE TABLE holidays (
    id        INTEGER PRIMARY KEY,
    branch_id INTEGER REFERENCES branches (id) ON DELETE CASCADE,
    day       TEXT    NOT NULL,
    name      TEXT    NOT NULL
);
CREATE UNIQUE INDEX holidays_branch_day ON holidays (ifnull(branch_id, 0), day);

CREATE TABLE agents (
    id                INTEGER PRIMARY KEY,
    user_id           INTEGER NOT NULL UNIQUE REFERENCES users (id),
    branch_id         INTEGER REFERENCES branches (id),
    status            TEXT    NOT NULL DEFAULT 'offline' CHECK (status IN ('online', 'away', 'offline')),
    capacity          INTEGER NOT NULL DEFAULT 10 CHECK (capacity >= 0),
    -- WeeklyHours JSON; an empty roster means "no shifts configured: available whenever online".
    shifts_json       TEXT    NOT NULL DEFAULT '{"days":[[],[],[],[],[],[],[]]}',
    status_changed_at INTEGER NOT NULL,
    last_assigned_at  INTEGER,
    created_at        INTEGER NOT NULL
);
CREATE INDEX agents_branch ON agents (branch_id);

CREATE TABLE customers (
    id             INTEGER PRIMARY KEY,
    phone          TEXT UNIQUE,
    lid            TEXT UNIQUE,
    name           TEXT,
    push_name      TEXT,
    email          TEXT,
    home_branch_id INTEGER REFERENCES branches (id),
    source         TEXT    NOT NULL DEFAULT 'whatsapp',
    satisfaction   REAL,
    last_agent_id  INTEGER REFERENCES agents (id),
    last_agent_at  INTEGER,
    last_latitude  REAL,
    last_longitude REAL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    CHECK (phone IS NOT NULL OR lid IS NOT NULL)
);

CREATE TABLE customer_tags (
    customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    tag         TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (customer_id, tag)
);

CREATE TABLE customer_notes (
    id             INTEGER PRIMARY KEY,
    customer_id    INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    author_user_id INTEGER REFERENCES users (id),
    body           TEXT    NOT NULL,
    created_at     INTEGER NOT NULL
);

CREATE TABLE tickets (
    id                  INTEGER PRIMARY KEY,
    customer_id         INTEGER NOT NULL REFERENCES customers (id),
    branch_id           INTEGER REFERENCES branches (id),
    agent_id            INTEGER REFERENCES agents (id),
    status              TEXT    NOT NULL CHECK (status IN ('open', 'pending', 'closed')),
    priority            TEXT    NOT NULL DEFAULT 'normal' CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    subject             TEXT,
    created_at          INTEGER NOT NULL,
    -- start of the current care cycle: creation or the latest reopen (first-response clock).
    opened_at           INTEGER NOT NULL,
    assigned_at         INTEGER,
    first_response_at   INTEGER,
    -- first customer message not yet answered by an agent (reply-time clock).
    waiting_since       INTEGER,
    last_activity_at    INTEGER NOT NULL,
    closed_at           INTEGER,
    closed_by_user_id   INTEGER REFERENCES users (id),
    close_reason        TEXT,
    reopen_count        INTEGER NOT NULL DEFAULT 0,
    csat_requested_at   INTEGER,
    delay_flagged_at    INTEGER
);
-- A customer has at most one ticket that is not closed.
CREATE UNIQUE INDEX tickets_one_active_per_customer ON tickets (customer_id) WHERE status <> 'closed';
CREATE INDEX tickets_customer ON tickets (customer_id, id);
CREATE INDEX tickets_agent_status ON tickets (agent_id, status);
CREATE INDEX tickets_status_activity ON tickets (status, last_activity_at);
CREATE INDEX tickets_branch_status ON tickets (branch_id, status);

CREATE TABLE ticket_state_log (
    id            INTEGER PRIMARY KEY,
    ticket_id     INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    from_status   TEXT,
    to_status     TEXT    NOT NULL,
    actor_kind    TEXT    NOT NULL CHECK (actor_kind IN ('customer', 'agent', 'admin', 'system')),
    actor_user_id INTEGER REFERENCES users (id),
    reason        TEXT,
    at            INTEGER NOT NULL
);
CREATE INDEX ticket_state_log_ticket ON ticket_state_log (ticket_id, id);

CREATE TABLE ticket_transfer_log (
    id             INTEGER PRIMARY KEY,
    ticket_id      INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    kind           TEXT    NOT NULL,
    from_agent_id  INTEGER REFERENCES agents (id),
    to_agent_id    INTEGER REFERENCES agents (id),
    from_branch_id INTEGER REFERENCES branches (id),
    to_branch_id   INTEGER REFERENCES branches (id),
    by_user_id     INTEGER REFERENCES users (id),
    note           TEXT    NOT NULL,
    at             INTEGER NOT NULL
);
CREATE INDEX ticket_transfer_log_ticket ON ticket_transfer_log (ticket_id, id);

-- Append-only journal the KPI folds run over (domain::kpi::TicketEvent).
CREATE TABLE ticket_events (
    id        INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    kind      TEXT    NOT NULL,
    agent_id  INTEGER REFERENCES agents (id),
    branch_id INTEGER REFERENCES branches (id),
    value     INTEGER,
    at        INTEGER NOT NULL
);
CREATE INDEX ticket_events_at ON ticket_events (at);
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, id);

CREATE TABLE media (
    sha256     TEXT PRIMARY KEY,
    mime       TEXT    NOT NULL,
    size       INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE messages (
    id             INTEGER PRIMARY KEY,
    ticket_id      INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    customer_id    INTEGER NOT NULL REFERENCES customers (id),
    direction      TEXT    NOT NULL CHECK (direction IN ('in', 'out')),
    sender_kind    TEXT    NOT NULL CHECK (sender_kind IN ('customer', 'agent', 'system')),
    sender_user_id INTEGER REFERENCES users (id),
    agent_id       INTEGER REFERENCES agents (id),
    kind           TEXT    NOT NULL,
    body           TEXT,
    media_sha256   TEXT REFERENCES media (sha256),
    media_mime     TEXT,
    media_name     TEXT,
    latitude       REAL,
    longitude      REAL,
    wa_id          TEXT UNIQUE,
    quoted_wa_id   TEXT,
    status         TEXT    NOT NULL,
    reaction       TEXT,
    edited_at      INTEGER,
    revoked_at     INTEGER,
    created_at     INTEGER NOT NULL
);
CREATE INDEX messages_ticket ON messages (ticket_id, id);
CREATE INDEX messages_customer ON messages (customer_id, id);
CREATE INDEX messages_agent_created ON messages (agent_id, created_at);

CREATE TABLE message_edits (
    id         INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    old_body   TEXT,
    at         INTEGER NOT NULL
);

CREATE TABLE message_delivery_log (
    id         INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    status     TEXT    NOT NULL,
    detail     TEXT,
    at         INTEGER NOT NULL
);
CREATE INDEX message_delivery_log_message ON message_delivery_log (message_id, id);

-- Durable outbox: one row per outgoing WhatsApp message. The WhatsApp id is chosen at enqueue
-- time so that a resend after a crash carries the same id (the receiver deduplicates).
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    message_id      INTEGER NOT NULL UNIQUE REFERENCES messages (id) ON DELETE CASCADE,
    ticket_id       INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    customer_id     INTEGER NOT NULL REFERENCES customers (id),
    recipient       TEXT    NOT NULL,
    wa_id           TEXT    NOT NULL UNIQUE,
    body            TEXT,
    media_sha256    TEXT,
    media_mime      TEXT,
    media_name      TEXT,
    quoted_wa_id    TEXT,
    read_wa_id      TEXT,
    body_key        TEXT    NOT NULL,
    is_system       INTEGER NOT NULL DEFAULT 0,
    state           TEXT    NOT NULL CHECK (state IN ('queued', 'held', 'sent', 'failed', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at, id);
CREATE INDEX outbox_customer_sent ON outbox (customer_id, sent_at);
CREATE INDEX outbox_body_created ON outbox (body_key, created_at);

CREATE TABLE templates (
    id             INTEGER PRIMARY KEY,
    owner_agent_id INTEGER REFERENCES agents (id) ON DELETE CASCADE,
    key            TEXT    NOT NULL,
    title          TEXT    NOT NULL,
    body           TEXT    NOT NULL,
    is_system      INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE UNIQUE INDEX templates_owner_key ON templates (ifnull(owner_agent_id, 0), key);

CREATE TABLE auto_reply_triggers (
    id         INTEGER PRIMARY KEY,
    keyword    TEXT    NOT NULL,
    match_kind TEXT    NOT NULL CHECK (match_kind IN ('contains', 'exact', 'starts_with')),
    body       TEXT    NOT NULL,
    branch_id  INTEGER REFERENCES branches (id) ON DELETE CASCADE,
    is_active  INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL
);

-- "once per conversation per day" bookkeeping for automatic replies.
CREATE TABLE auto_reply_log (
    ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    kind      TEXT    NOT NULL,
    local_day TEXT    NOT NULL,
    at        INTEGER NOT NULL,
    PRIMARY KEY (ticket_id, kind, local_day)
);

CREATE TABLE response_times (
    id         INTEGER PRIMARY KEY,
    ticket_id  INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    agent_id   INTEGER NOT NULL REFERENCES agents (id),
    branch_id  INTEGER REFERENCES branches (id),
    kind       TEXT    NOT NULL CHECK (kind IN ('first_response', 'reply', 'resolution')),
    started_at INTEGER NOT NULL,
    ended_at   INTEGER NOT NULL,
    millis     INTEGER NOT NULL
);
CREATE INDEX response_times_agent ON response_times (agent_id, ended_at);
CREATE INDEX response_times_ended ON response_times (ended_at);

CREATE TABLE agent_delay_events (
    id                     INTEGER PRIMARY KEY,
    ticket_id              INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    agent_id               INTEGER NOT NULL REFERENCES agents (id),
    branch_id              INTEGER REFERENCES branches (id),
    waiting_since          INTEGER NOT NULL,
    detected_at            INTEGER NOT NULL,
    reassigned_to_agent_id INTEGER REFERENCES agents (id)
);
CREATE INDEX agent_delay_events_agent ON agent_delay_events (agent_id, detected_at);

CREATE TABLE csat_ratings (
    id          INTEGER PRIMARY KEY,
    ticket_id   INTEGER NOT NULL UNIQUE REFERENCES tickets (id) ON DELETE CASCADE,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    agent_id    INTEGER REFERENCES agents (id),
    branch_id   INTEGER REFERENCES branches (id),
    rating      INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    raw_text    TEXT    NOT NULL,
    at          INTEGER NOT NULL
);

-- Materialised rollups of the KPI SQL aggregates (recomputed idempotently per local day/month).
CREATE TABLE agent_kpi_daily (
    agent_id             INTEGER NOT NULL REFERENCES agents (id),
    day                  TEXT    NOT NULL,
    first_response_count INTEGER NOT NULL,
    first_response_ms    INTEGER NOT NULL,
    reply_count          INTEGER NOT NULL,
    reply_ms             INTEGER NOT NULL,
    resolution_count     INTEGER NOT NULL,
    resolution_ms        INTEGER NOT NULL,
    messages_sent        INTEGER NOT NULL,
    messages_received    INTEGER NOT NULL,
    tickets_handled      INTEGER NOT NULL,
    csat_count           INTEGER NOT NULL,
    csat_sum             INTEGER NOT NULL,
    delays               INTEGER NOT NULL,
    computed_at          INTEGER NOT NULL,
    PRIMARY KEY (agent_id, day)
);

CREATE TABLE agent_kpi_monthly (
    agent_id             INTEGER NOT NULL REFERENCES agents (id),
    month                TEXT    NOT NULL,
    first_response_count INTEGER NOT NULL,
    first_response_ms    INTEGER NOT NULL,
    reply_count          INTEGER NOT NULL,
    reply_ms             INTEGER NOT NULL,
    resolution_count     INTEGER NOT NULL,
    resolution_ms        INTEGER NOT NULL,
    messages_sent        INTEGER NOT NULL,
    messages_received    INTEGER NOT NULL,
    tickets_handled      INTEGER NOT NULL,
    csat_count           INTEGER NOT NULL,
    csat_sum             INTEGER NOT NULL,
    delays               INTEGER NOT NULL,
    computed_at          INTEGER NOT NULL,
    PRIMARY KEY (agent_id, month)
);

CREATE TABLE admin_alerts (
    id              INTEGER PRIMARY KEY,
    kind            TEXT    NOT NULL,
    message         TEXT    NOT NULL,
    details_json    TEXT,
    at              INTEGER NOT NULL,
    acknowledged_at INTEGER,
    acknowledged_by INTEGER REFERENCES users (id)
);

CREATE TABLE activity_log (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER REFERENCES users (id),
    action       TEXT    NOT NULL,
    entity_kind  TEXT,
    entity_id    INTEGER,
    details_json TEXT,
    address      TEXT,
    at           INTEGER NOT NULL
);
CREATE INDEX activity_log_at ON activity_log (at);

CREATE TABLE login_attempts (
    id       INTEGER PRIMARY KEY,
    username TEXT    NOT NULL,
    address  TEXT,
    success  INTEGER NOT NULL,
    at       INTEGER NOT NULL
);
CREATE INDEX login_attempts_username ON login_attempts (username, at);
CREATE INDEX login_attempts_address ON login_attempts (address, at);

-- Runtime-editable settings (key -> JSON value), layered over the compiled defaults.
CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value_json TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Full-text search over normalised text (domain::search::normalize); rowid = messages.id / customers.id.
CREATE VIRTUAL TABLE messages_fts USING fts5 (body, tokenize = 'unicode61 remove_diacritics 2');
CREATE VIRTUAL TABLE customers_fts USING fts5 (text, tokenize = 'unicode61 remove_diacritics 2');
