//! KPI storage: response-time tracking, delay events, ratings, and the SQL aggregates that the
//! tests hold equal to the pure fold in `domain::kpi`.

use super::Conn;
use crate::domain::ids::{AgentId, BranchId, CustomerId, TicketId};
use crate::domain::kpi::KpiTotals;
use crate::domain::time::Timestamp;
use std::collections::BTreeMap;

/// Records a response-time sample (`first_response`, `reply`, `resolution`).
#[allow(clippy::too_many_arguments)]
pub async fn record_time(
    c: &mut Conn,
    ticket: TicketId,
    agent: AgentId,
    branch: Option<BranchId>,
    kind: &str,
    started: Timestamp,
    ended: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO response_times (ticket_id, agent_id, branch_id, kind, started_at, ended_at, millis) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(ticket)
    .bind(agent)
    .bind(branch)
    .bind(kind)
    .bind(started)
    .bind(ended)
    // Never negative, even for a start stored before the system clock was set back (across a
    // restart, where the steady clock cannot see the step).
    .bind(ended.millis_since(started).max(0))
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Records an agent delay event.
pub async fn record_delay(
    c: &mut Conn,
    ticket: TicketId,
    agent: AgentId,
    branch: Option<BranchId>,
    waiting_since: Timestamp,
    now: Timestamp,
    reassigned_to: Option<AgentId>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO agent_delay_events (ticket_id, agent_id, branch_id, waiting_since, detected_at, reassigned_to_agent_id)
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(ticket)
    .bind(agent)
    .bind(branch)
    .bind(waiting_since)
    .bind(now)
    .bind(reassigned_to)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Records a rating; false if the ticket was already rated.
#[allow(clippy::too_many_arguments)]
pub async fn record_rating(
    c: &mut Conn,
    ticket: TicketId,
    customer: CustomerId,
    agent: Option<AgentId>,
    branch: Option<BranchId>,
    rating: u8,
    raw: &str,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "INSERT OR IGNORE INTO csat_ratings (ticket_id, customer_id, agent_id, branch_id, rating, raw_text, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(ticket)
    .bind(customer)
    .bind(agent)
    .bind(branch)
    .bind(rating as i64)
    .bind(raw)
    .bind(now)
    .execute(&mut *c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Whether a ticket has a rating.
pub async fn is_rated(c: &mut Conn, ticket: TicketId) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM csat_ratings WHERE ticket_id = ?")
        .bind(ticket)
        .fetch_one(&mut *c)
        .await?;
    Ok(n > 0)
}

type Setter = fn(&mut KpiTotals, i64, i64);

#[derive(sqlx::FromRow)]
struct Part {
    agent_id: AgentId,
    a: i64,
    b: i64,
}

async fn parts(
    c: &mut Conn,
    sql: &str,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<Part>, sqlx::Error> {
    sqlx::query_as(sql)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *c)
        .await
}

/// Per-agent totals over `[from, to)`, straight from the tables (not from the journal):
/// response_times, messages, csat_ratings, agent_delay_events.
pub async fn agent_totals(
    c: &mut Conn,
    from: Timestamp,
    to: Timestamp,
) -> Result<BTreeMap<AgentId, KpiTotals>, sqlx::Error> {
    let mut out: BTreeMap<AgentId, KpiTotals> = BTreeMap::new();
    let times = "SELECT agent_id, count(*) AS a, coalesce(sum(millis), 0) AS b FROM response_times
                 WHERE kind = ? AND ended_at >= ? AND ended_at < ? GROUP BY agent_id";
    for (kind, set) in [
        (
            "first_response",
            (|t: &mut KpiTotals, a, b| {
                t.first_response_count = a;
                t.first_response_ms = b;
            }) as Setter,
        ),
        ("reply", |t, a, b| {
            t.reply_count = a;
            t.reply_ms = b;
        }),
        ("resolution", |t, a, b| {
            t.resolution_count = a;
            t.resolution_ms = b;
            t.tickets_handled = a;
        }),
    ] {
        let rows: Vec<Part> = sqlx::query_as(times)
            .bind(kind)
            .bind(from)
            .bind(to)
            .fetch_all(&mut *c)
            .await?;
        for r in rows {
            set(out.entry(r.agent_id).or_default(), r.a, r.b);
        }
    }
    let queries: [(&str, Setter); 4] = [
        (
            "SELECT agent_id, count(*) AS a, 0 AS b FROM messages WHERE sender_kind = 'agent' AND agent_id IS NOT NULL
             AND created_at >= ? AND created_at < ? GROUP BY agent_id",
            |t, a, _| t.messages_sent = a,
        ),
        (
            "SELECT agent_id, count(*) AS a, 0 AS b FROM messages WHERE direction = 'in' AND kind <> 'rating' AND agent_id IS NOT NULL
             AND created_at >= ? AND created_at < ? GROUP BY agent_id",
            |t, a, _| t.messages_received = a,
        ),
        (
            "SELECT agent_id, count(*) AS a, sum(rating) AS b FROM csat_ratings WHERE agent_id IS NOT NULL
             AND at >= ? AND at < ? GROUP BY agent_id",
            |t, a, b| { t.csat_count = a; t.csat_sum = b; },
        ),
        (
            "SELECT agent_id, count(*) AS a, 0 AS b FROM agent_delay_events WHERE detected_at >= ? AND detected_at < ? GROUP BY agent_id",
            |t, a, _| t.delays = a,
        ),
    ];
    for (sql, set) in queries {
        for r in parts(c, sql, from, to).await? {
            set(out.entry(r.agent_id).or_default(), r.a, r.b);
        }
    }
    Ok(out)
}

/// Stores a rollup row (`table` is `agent_kpi_daily` keyed by day or `agent_kpi_monthly` by month).
pub async fn upsert_rollup(
    c: &mut Conn,
    monthly: bool,
    agent: AgentId,
    period: &str,
    t: &KpiTotals,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    let (table, col) = if monthly {
        ("agent_kpi_monthly", "month")
    } else {
        ("agent_kpi_daily", "day")
    };
    let sql = format!(
        "INSERT OR REPLACE INTO {table} (agent_id, {col}, first_response_count, first_response_ms, reply_count, reply_ms,
             resolution_count, resolution_ms, messages_sent, messages_received, tickets_handled, csat_count, csat_sum,
             delays, computed_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    );
    sqlx::query(&sql)
        .bind(agent)
        .bind(period)
        .bind(t.first_response_count)
        .bind(t.first_response_ms)
        .bind(t.reply_count)
        .bind(t.reply_ms)
        .bind(t.resolution_count)
        .bind(t.resolution_ms)
        .bind(t.messages_sent)
        .bind(t.messages_received)
        .bind(t.tickets_handled)
        .bind(t.csat_count)
        .bind(t.csat_sum)
        .bind(t.delays)
        .bind(now)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Customer counts over `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, sqlx::FromRow)]
pub struct CustomerCounts {
    /// Customers created in the range.
    pub new_customers: i64,
    /// Customers who wrote in the range.
    pub active_customers: i64,
    /// Customers with more than one ticket opened before `to`.
    pub returning_customers: i64,
    /// Ratings given in the range.
    pub ratings: i64,
    /// Their average (none without ratings).
    pub average: Option<f64>,
}

/// The customer figures of the analytics page over `[from, to)`.
pub async fn customer_counts(
    c: &mut Conn,
    from: Timestamp,
    to: Timestamp,
) -> Result<CustomerCounts, sqlx::Error> {
    sqlx::query_as(
        "SELECT
           (SELECT count(*) FROM customers WHERE created_at >= ?1 AND created_at < ?2)
             AS new_customers,
           (SELECT count(DISTINCT customer_id) FROM messages
             WHERE direction = 'in' AND created_at >= ?1 AND created_at < ?2) AS active_customers,
           (SELECT count(*) FROM (SELECT customer_id FROM tickets WHERE created_at < ?2
             GROUP BY customer_id HAVING count(*) > 1)) AS returning_customers,
           (SELECT count(*) FROM csat_ratings WHERE at >= ?1 AND at < ?2) AS ratings,
           (SELECT avg(rating) FROM csat_ratings WHERE at >= ?1 AND at < ?2) AS average",
    )
    .bind(from)
    .bind(to)
    .fetch_one(&mut *c)
    .await
}
