//! What agents' KPIs are made of: response-time samples, delay events, satisfaction ratings,
//! and Django's own KPI rows (kept verbatim in `legacy_kpi_snapshots`).

use super::context::Ctx;
use super::error::{ImportError, WriteContext};
use super::people::PeopleTables;
use super::source::{Row, Source, Value};
use crate::domain::time::Timestamp;
use std::time::Duration;

/// Imports `ResponseTimeTracking`, `AgentDelayEvent`, `CustomerSatisfaction`, `AgentKPI` and
/// `AgentKPIMonthly`.
pub(crate) async fn import(
    ctx: &mut Ctx,
    src: &mut Source,
    people: &PeopleTables,
) -> Result<(), ImportError> {
    let tickets = src.model("ticket");
    let customers = src.model("customer");
    for (model, f) in [
        ("responsetimetracking", Kind::ResponseTime),
        ("agentdelayevent", Kind::Delay),
        ("customersatisfaction", Kind::Rating),
        ("agentkpi", Kind::Kpi),
        ("agentkpimonthly", Kind::KpiMonthly),
    ] {
        let table = src.model(model);
        if !src.has(&table) {
            ctx.report.absent_tables.push(table.clone());
        }
        for r in src.rows(&table).await? {
            match f {
                Kind::ResponseTime => response_time(ctx, &r, &tickets, people).await?,
                Kind::Delay => delay(ctx, &r, &tickets, people).await?,
                Kind::Rating => rating(ctx, &r, &tickets, &customers, people).await?,
                Kind::Kpi | Kind::KpiMonthly => {
                    kpi_snapshot(ctx, &r, f == Kind::KpiMonthly, people).await?
                }
            }
        }
    }
    // The figures Django kept on the Agent row itself (average response time, rating).
    for r in src.rows(&people.agents).await? {
        if r.has("response_time") || r.has("rating") {
            agent_snapshot(ctx, &r, people).await?;
        }
    }
    // Customers without a satisfaction figure from Django get the mean of their ratings.
    sqlx::query(
        "UPDATE customers SET satisfaction = (SELECT avg(rating) FROM csat_ratings r WHERE r.customer_id = customers.id)
         WHERE satisfaction IS NULL AND id IN (SELECT customer_id FROM csat_ratings)",
    )
    .execute(&mut *ctx.tx)
    .await
    .step("customer satisfaction")?;
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    ResponseTime,
    Delay,
    Rating,
    Kpi,
    KpiMonthly,
}

/// The service ticket, its agent and branch for a row's `ticket_id`.
async fn ticket_of(
    ctx: &mut Ctx,
    r: &Row,
    tickets: &str,
) -> Result<Option<(i64, Option<i64>, Option<i64>, i64)>, ImportError> {
    let Some(t) = r.text(&["ticket_id"]).and_then(|t| ctx.target(tickets, &t)) else {
        return Ok(None);
    };
    sqlx::query_as("SELECT id, agent_id, branch_id, customer_id FROM tickets WHERE id = ?")
        .bind(t)
        .fetch_optional(&mut *ctx.tx)
        .await
        .step("reading a ticket")
}

async fn branch_of(ctx: &mut Ctx, agent: i64) -> Result<Option<i64>, ImportError> {
    Ok(
        sqlx::query_scalar::<_, Option<i64>>("SELECT branch_id FROM agents WHERE id = ?")
            .bind(agent)
            .fetch_optional(&mut *ctx.tx)
            .await
            .step("reading an agent")?
            .flatten(),
    )
}

fn secs(v: f64) -> Duration {
    Duration::from_millis((v.max(0.0) * 1000.0).round() as u64)
}

/// The measured response time of a row. Columns named in seconds hold seconds; `response_time`
/// and `duration` are Django `DurationField`s, which Django's SQLite backend declares `bigint`
/// and stores as whole microseconds (`DurationField.get_db_prep_value` ->
/// `django.utils.duration.duration_microseconds`, since SQLite has no native duration type:
/// `django/db/backends/sqlite3/base.py` `data_types`, `features.has_native_duration_field`).
/// A REAL there is taken as seconds (a `FloatField` of an older model; a guess).
fn measured(r: &Row) -> Option<Duration> {
    if let Some(s) = r.real(&[
        "response_time_seconds",
        "response_seconds",
        "duration_seconds",
        "seconds",
    ]) {
        return Some(secs(s));
    }
    let micros = |us: i64| Duration::from_micros(us.max(0) as u64);
    match r.value(&["response_time", "duration"])? {
        Value::Int(us) => Some(micros(*us)),
        Value::Real(s) => Some(secs(*s)),
        Value::Text(t) => match t.trim().parse::<i64>() {
            Ok(us) => Some(micros(us)),
            Err(_) => t.trim().parse::<f64>().ok().map(secs),
        },
        Value::Null | Value::Blob(_) => None,
    }
}

async fn response_time(
    ctx: &mut Ctx,
    r: &Row,
    tickets: &str,
    people: &PeopleTables,
) -> Result<(), ImportError> {
    const E: &str = "response_times";
    let (table, id) = (r.table.as_str(), r.id());
    if ctx.skip_row(E, r) {
        return Ok(());
    }
    let Some((ticket, ticket_agent, _, _)) = ticket_of(ctx, r, tickets).await? else {
        ctx.report
            .unmappable(E, table, &id, "its ticket was not imported");
        return Ok(());
    };
    let Some(agent) = r
        .text(&["agent_id"])
        .and_then(|a| ctx.target(&people.agents, &a))
        .or(ticket_agent)
    else {
        ctx.report.unmappable(E, table, &id, "no agent to credit");
        return Ok(());
    };
    let started = r.time(
        &[
            "customer_message_time",
            "customer_message_at",
            "started_at",
            "received_at",
            "message_received_at",
        ],
        &ctx.tz,
    );
    let ended = r.time(
        &[
            "agent_response_time",
            "agent_response_at",
            "responded_at",
            "response_at",
            "ended_at",
            "agent_replied_at",
        ],
        &ctx.tz,
    );
    let seconds = measured(r);
    let created = r.time(&["created_at", "timestamp"], &ctx.tz);
    let (started, ended) = match (started, ended, seconds) {
        (Some(s), Some(e), _) => (s, e),
        (None, Some(e), Some(d)) => (e.minus(d), e),
        (Some(s), None, Some(d)) => (s, s.plus(d)),
        (None, None, Some(d)) => match created {
            Some(c) => (c.minus(d), c),
            None => {
                ctx.report
                    .unmappable(E, table, &id, "no time of the response");
                return Ok(());
            }
        },
        _ => {
            ctx.report
                .unmappable(E, table, &id, "neither both times nor a duration");
            return Ok(());
        }
    };
    if ended < started {
        ctx.report
            .unmappable(E, table, &id, "the response is before the message");
        return Ok(());
    }
    let first = r.flag(&["is_first_response", "first_response"]) == Some(true)
        || r.text(&["response_type", "kind", "type"])
            .is_some_and(|k| k.to_ascii_lowercase().contains("first"));
    let branch = branch_of(ctx, agent).await?;
    sqlx::query(
        "INSERT INTO response_times (ticket_id, agent_id, branch_id, kind, started_at, ended_at, millis)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(ticket)
    .bind(agent)
    .bind(branch)
    .bind(if first { "first_response" } else { "reply" })
    .bind(started)
    .bind(ended)
    .bind(ended.millis_since(started))
    .execute(&mut *ctx.tx)
    .await
    .row(E, table, &id)?;
    ctx.record(table, &id, E, None).await?;
    ctx.report.counts(E).imported += 1;
    Ok(())
}

async fn delay(
    ctx: &mut Ctx,
    r: &Row,
    tickets: &str,
    people: &PeopleTables,
) -> Result<(), ImportError> {
    const E: &str = "agent_delay_events";
    let (table, id) = (r.table.as_str(), r.id());
    if ctx.skip_row(E, r) {
        return Ok(());
    }
    let Some((ticket, ticket_agent, ticket_branch, _)) = ticket_of(ctx, r, tickets).await? else {
        ctx.report
            .unmappable(E, table, &id, "its ticket was not imported");
        return Ok(());
    };
    let Some(agent) = r
        .text(&["agent_id"])
        .and_then(|a| ctx.target(&people.agents, &a))
        .or(ticket_agent)
    else {
        ctx.report.unmappable(E, table, &id, "no agent");
        return Ok(());
    };
    let detected = r
        .time(&["detected_at", "created_at", "timestamp"], &ctx.tz)
        .unwrap_or(ctx.now);
    let waiting = r
        .time(
            &["waiting_since", "customer_message_time", "started_at"],
            &ctx.tz,
        )
        .or_else(|| {
            r.real(&["delay_seconds", "delay", "seconds"])
                .map(|d| detected.minus(secs(d)))
        })
        .or_else(|| {
            r.real(&["delay_minutes", "minutes"])
                .map(|m| detected.minus(secs(m * 60.0)))
        })
        .unwrap_or(detected);
    let branch = branch_of(ctx, agent).await?.or(ticket_branch);
    sqlx::query(
        "INSERT INTO agent_delay_events (ticket_id, agent_id, branch_id, waiting_since, detected_at) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(ticket)
    .bind(agent)
    .bind(branch)
    .bind(waiting)
    .bind(detected)
    .execute(&mut *ctx.tx)
    .await
    .row(E, table, &id)?;
    ctx.record(table, &id, E, None).await?;
    ctx.report.counts(E).imported += 1;
    Ok(())
}

async fn rating(
    ctx: &mut Ctx,
    r: &Row,
    tickets: &str,
    customers: &str,
    people: &PeopleTables,
) -> Result<(), ImportError> {
    const E: &str = "csat_ratings";
    let (table, id) = (r.table.as_str(), r.id());
    if ctx.skip_row(E, r) {
        return Ok(());
    }
    let Some(value) = r
        .int(&["rating", "score", "satisfaction", "value"])
        .filter(|v| (1..=5).contains(v))
    else {
        ctx.report.unmappable(
            E,
            table,
            &id,
            format!(
                "rating {:?} is not 1-5",
                r.text(&["rating", "score", "satisfaction", "value"])
                    .unwrap_or_default()
            ),
        );
        return Ok(());
    };
    let at = r
        .time(&["created_at", "timestamp", "rated_at"], &ctx.tz)
        .unwrap_or(ctx.now);
    let mut ticket = ticket_of(ctx, r, tickets).await?;
    if ticket.is_none() {
        // Ratings kept per customer only: the customer's ticket open at that time.
        if let Some(c) = r
            .text(&["customer_id"])
            .and_then(|c| ctx.target(customers, &c))
        {
            ticket = sqlx::query_as(
                "SELECT id, agent_id, branch_id, customer_id FROM tickets WHERE customer_id = ? AND created_at <= ?
                 ORDER BY created_at DESC, id DESC LIMIT 1",
            )
            .bind(c)
            .bind(at)
            .fetch_optional(&mut *ctx.tx)
            .await
            .row(E, table, &id)?;
        }
    }
    let Some((ticket, ticket_agent, ticket_branch, customer)) = ticket else {
        ctx.report
            .unmappable(E, table, &id, "no imported ticket to attach the rating to");
        return Ok(());
    };
    let agent = r
        .text(&["agent_id"])
        .and_then(|a| ctx.target(&people.agents, &a))
        .or(ticket_agent);
    let branch = match agent {
        Some(a) => branch_of(ctx, a).await?.or(ticket_branch),
        None => ticket_branch,
    };
    let raw = r
        .text(&["comment", "feedback", "raw_text", "text"])
        .unwrap_or_else(|| value.to_string());
    let added = sqlx::query(
        "INSERT OR IGNORE INTO csat_ratings (ticket_id, customer_id, agent_id, branch_id, rating, raw_text, at)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(ticket)
    .bind(customer)
    .bind(agent)
    .bind(branch)
    .bind(value)
    .bind(raw)
    .bind(at)
    .execute(&mut *ctx.tx)
    .await
    .row(E, table, &id)?
    .rows_affected()
        == 1;
    if !added {
        ctx.report.unmappable(
            E,
            table,
            &id,
            format!("service ticket {ticket} already has a rating (one per ticket)"),
        );
        return Ok(());
    }
    ctx.record(table, &id, E, None).await?;
    ctx.report.counts(E).imported += 1;
    ctx.touched_customers.insert(customer);
    Ok(())
}

async fn agent_snapshot(ctx: &mut Ctx, r: &Row, people: &PeopleTables) -> Result<(), ImportError> {
    const E: &str = "kpi_snapshots";
    let (table, id) = (r.table.as_str(), r.id());
    let key_table = format!("{table}.kpi");
    if ctx.skip_seen(E, &key_table, &id) {
        return Ok(());
    }
    let Some(agent) = ctx.target(&people.agents, &id) else {
        // The agent itself is listed as unmappable already.
        return Ok(());
    };
    let n: i64 = sqlx::query_scalar(
        "INSERT INTO legacy_kpi_snapshots (source_table, source_id, agent_id, period, fields_json, recorded_at)
         VALUES (?, ?, ?, NULL, ?, ?) RETURNING id",
    )
    .bind(table)
    .bind(&id)
    .bind(agent)
    .bind(r.to_json().to_string())
    .bind(ctx.now)
    .fetch_one(&mut *ctx.tx)
    .await
    .row(E, table, &id)?;
    ctx.record(&key_table, &id, "legacy_kpi_snapshots", Some(n))
        .await?;
    ctx.report.counts(E).imported += 1;
    Ok(())
}

async fn kpi_snapshot(
    ctx: &mut Ctx,
    r: &Row,
    monthly: bool,
    people: &PeopleTables,
) -> Result<(), ImportError> {
    const E: &str = "kpi_snapshots";
    let (table, id) = (r.table.as_str(), r.id());
    if ctx.skip_row(E, r) {
        return Ok(());
    }
    let aid = r.text(&["agent_id"]).unwrap_or_default();
    let agent = ctx.target(&people.agents, &aid);
    if agent.is_none() {
        ctx.report.adjusted(
            E,
            table,
            &id,
            format!("agent {aid:?} was not imported: kept without an agent"),
        );
    }
    let recorded = r.time(
        &["created_at", "updated_at", "date", "calculated_at"],
        &ctx.tz,
    );
    let tz = ctx.app.time_zone().clone();
    let period = if monthly {
        match (r.int(&["year"]), r.int(&["month"])) {
            (Some(y), Some(m)) if (1..=12).contains(&m) => Some(format!("{y:04}-{m:02}")),
            _ => r
                .text(&["month", "period"])
                .filter(|m| m.len() >= 7)
                .map(|m| m[..7].to_owned())
                .or_else(|| recorded.map(|t| t.local(&tz).date.to_string()[..7].to_owned())),
        }
    } else {
        r.text(&["date", "day", "period"])
            .filter(|d| d.len() >= 10)
            .map(|d| d[..10].to_owned())
            .or_else(|| recorded.map(|t: Timestamp| t.local(&tz).date.to_string()))
    };
    let n: i64 = sqlx::query_scalar(
        "INSERT INTO legacy_kpi_snapshots (source_table, source_id, agent_id, period, fields_json, recorded_at)
         VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(table)
    .bind(&id)
    .bind(agent)
    .bind(period)
    .bind(r.to_json().to_string())
    .bind(recorded)
    .fetch_one(&mut *ctx.tx)
    .await
    .row(E, table, &id)?;
    ctx.record(table, &id, "legacy_kpi_snapshots", Some(n))
        .await?;
    ctx.report.counts(E).imported += 1;
    Ok(())
}
