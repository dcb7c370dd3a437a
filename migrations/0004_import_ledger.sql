-- Switch-over import from the Django system (issue 13).
--
-- import_source_ids is the ledger that makes the import idempotent: one row per source row
-- (Django table + primary key, or a derived key such as "conversations_customer.tags" +
-- "12:vip"), pointing at the row it became (or was merged into) in this database.
CREATE TABLE import_source_ids (
    source_table TEXT    NOT NULL,
    source_id    TEXT    NOT NULL,
    target_table TEXT    NOT NULL,
    target_id    INTEGER,
    imported_at  INTEGER NOT NULL,
    PRIMARY KEY (source_table, source_id)
);
CREATE INDEX import_source_ids_target ON import_source_ids (target_table, target_id);

-- The Django KPI rows (AgentKPI, AgentKPIMonthly) exactly as the old system stored them, so
-- the figures agents were judged by survive the switch-over next to the service's own KPIs.
CREATE TABLE legacy_kpi_snapshots (
    id           INTEGER PRIMARY KEY,
    source_table TEXT    NOT NULL,
    source_id    TEXT    NOT NULL,
    agent_id     INTEGER REFERENCES agents (id),
    -- "YYYY-MM-DD" (daily rows) or "YYYY-MM" (monthly rows) when the row says which.
    period       TEXT,
    -- Every column of the source row.
    fields_json  TEXT    NOT NULL,
    recorded_at  INTEGER,
    UNIQUE (source_table, source_id)
);
CREATE INDEX legacy_kpi_snapshots_agent ON legacy_kpi_snapshots (agent_id, period);
