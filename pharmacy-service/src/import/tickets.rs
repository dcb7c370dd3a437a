//! Tickets with their state, the state log, the transfer log, and the resolution samples the
//! service's KPIs count closed tickets by.

use super::context::Ctx;
use super::customers::author;
use super::error::{ImportError, WriteContext};
use super::mapping::{priority, ticket_status};
use super::people::PeopleTables;
use super::source::{Row, Source};
use crate::domain::ticket::{Priority, TicketStatus};
use crate::domain::time::Timestamp;
use std::collections::BTreeMap;

struct Planned<'a> {
    row: &'a Row,
    customer: i64,
    agent: Option<i64>,
    status: TicketStatus,
    priority: Priority,
    created: Timestamp,
    closed_at: Option<Timestamp>,
    close_reason: Option<String>,
    closed_by: Option<i64>,
    /// Closed in Django (not closed by the import to resolve a conflict).
    resolved: bool,
    /// Closed by the import because the customer has a newer active ticket.
    superseded: bool,
    last_activity: Timestamp,
}

/// Imports tickets, then their state and transfer logs.
pub(crate) async fn import(
    ctx: &mut Ctx,
    src: &mut Source,
    people: &PeopleTables,
) -> Result<(), ImportError> {
    let table = src.model("ticket");
    let customer_table = src.model("customer");
    let rows = src.rows(&table).await?;
    let mut planned = Vec::new();
    for r in &rows {
        if let Some(p) = plan(ctx, r, &customer_table, people) {
            planned.push(p);
        }
    }
    resolve_active_conflicts(ctx, &mut planned).await?;
    for p in &planned {
        insert(ctx, p).await?;
    }
    state_log(ctx, src, &table, people).await?;
    transfer_log(ctx, src, &table, people).await?;
    // The closings the import made, after the Django history of those tickets.
    for p in planned.iter().filter(|p| p.superseded) {
        let id = p.row.id();
        let (Some(t), Some(at)) = (ctx.target(&table, &id), p.closed_at) else {
            continue;
        };
        sqlx::query(
            "INSERT INTO ticket_state_log (ticket_id, from_status, to_status, actor_kind, reason, at)
             VALUES (?, 'open', 'closed', 'system', ?, ?)",
        )
        .bind(t)
        .bind(&p.close_reason)
        .bind(at)
        .execute(&mut *ctx.tx)
        .await
        .row("tickets", &table, &id)?;
    }
    Ok(())
}

fn plan<'a>(
    ctx: &mut Ctx,
    r: &'a Row,
    customer_table: &str,
    people: &PeopleTables,
) -> Option<Planned<'a>> {
    let (table, id) = (r.table.as_str(), r.id());
    if ctx.skip_row("tickets", r) {
        return None;
    }
    let cid = r.text(&["customer_id"]).unwrap_or_default();
    let Some(customer) = ctx.target(customer_table, &cid) else {
        ctx.report.unmappable(
            "tickets",
            table,
            &id,
            format!("customer {cid:?} was not imported"),
        );
        return None;
    };
    let raw_status = r.text(&["status", "state"]).unwrap_or_default();
    let Some(status) = ticket_status(&raw_status) else {
        ctx.report.unmappable(
            "tickets",
            table,
            &id,
            format!("unknown status {raw_status:?}"),
        );
        return None;
    };
    let priority = match r.text(&["priority"]) {
        None => Priority::Normal,
        Some(p) => priority(&p).unwrap_or_else(|| {
            ctx.report.adjusted(
                "tickets",
                table,
                &id,
                format!("unknown priority {p:?}: imported as normal"),
            );
            Priority::Normal
        }),
    };
    let agent = match r.text(&["agent_id", "assigned_to_id", "assigned_agent_id"]) {
        None => None,
        Some(a) => {
            let t = ctx.target(&people.agents, &a);
            if t.is_none() {
                ctx.report.adjusted(
                    "tickets",
                    table,
                    &id,
                    format!("agent {a:?} was not imported: the ticket comes in unassigned"),
                );
            }
            t
        }
    };
    let created = r
        .time(&["created_at", "opened_at"], &ctx.tz)
        .unwrap_or(ctx.now);
    let updated = r.time(
        &["updated_at", "last_activity_at", "last_message_at"],
        &ctx.tz,
    );
    let mut closed_at = r.time(&["closed_at", "resolved_at"], &ctx.tz);
    if status == TicketStatus::Closed && closed_at.is_none() {
        closed_at = Some(updated.unwrap_or(created));
        ctx.report.adjusted(
            "tickets",
            table,
            &id,
            "closed without closed_at: closing time taken from its last update",
        );
    }
    if status != TicketStatus::Closed {
        closed_at = None;
    }
    let last_activity = [Some(created), updated, closed_at]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(created);
    Some(Planned {
        row: r,
        customer,
        agent,
        status,
        priority,
        created,
        closed_at,
        close_reason: r.text(&["close_reason", "closed_reason", "resolution"]),
        closed_by: r
            .text(&["closed_by_id"])
            .and_then(|u| ctx.target(&people.users, &u)),
        resolved: status == TicketStatus::Closed,
        superseded: false,
        last_activity,
    })
}

/// A customer has at most one ticket that is not closed. Django allowed several (and merged
/// duplicate customers bring theirs together): the newest stays active, older ones are
/// imported closed at the moment the next one was opened.
async fn resolve_active_conflicts(
    ctx: &mut Ctx,
    planned: &mut [Planned<'_>],
) -> Result<(), ImportError> {
    let mut by_customer: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, p) in planned.iter().enumerate() {
        if p.status != TicketStatus::Closed {
            by_customer.entry(p.customer).or_default().push(i);
        }
    }
    for (customer, mut idx) in by_customer {
        let existing: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM tickets WHERE customer_id = ? AND status <> 'closed'",
        )
        .bind(customer)
        .fetch_optional(&mut *ctx.tx)
        .await
        .step("reading active tickets")?;
        idx.sort_by_key(|&i| {
            (
                planned[i].created,
                planned[i].row.id().parse::<i64>().unwrap_or(0),
            )
        });
        let keep = if existing.is_some() {
            idx.len()
        } else {
            idx.len() - 1
        };
        for k in 0..keep {
            let i = idx[k];
            let (next_created, by) = match idx.get(k + 1) {
                Some(&j) if k + 1 < idx.len() => (
                    planned[j].created,
                    format!("Django ticket {}", planned[j].row.id()),
                ),
                _ => (
                    ctx.now,
                    format!("service ticket {}", existing.unwrap_or_default()),
                ),
            };
            let p = &mut planned[i];
            let at = next_created.max(p.created);
            p.status = TicketStatus::Closed;
            p.superseded = true;
            p.closed_at = Some(at);
            p.close_reason = Some("import: superseded by a newer ticket".into());
            p.last_activity = p.last_activity.max(at);
            let (table, id) = (p.row.table.clone(), p.row.id());
            ctx.report.adjusted(
                "tickets",
                &table,
                &id,
                format!("the customer has a newer active ticket ({by}): imported closed"),
            );
        }
    }
    Ok(())
}

async fn insert(ctx: &mut Ctx, p: &Planned<'_>) -> Result<(), ImportError> {
    let (table, id) = (p.row.table.as_str(), p.row.id());
    let branch: Option<i64> = match p.agent {
        Some(a) => sqlx::query_scalar("SELECT branch_id FROM agents WHERE id = ?")
            .bind(a)
            .fetch_one(&mut *ctx.tx)
            .await
            .row("tickets", table, &id)?,
        None => None,
    };
    let t: i64 = sqlx::query_scalar(
        "INSERT INTO tickets (customer_id, branch_id, agent_id, status, priority, subject, created_at, opened_at,
             assigned_at, last_activity_at, closed_at, closed_by_user_id, close_reason, carried_over_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(p.customer)
    .bind(branch)
    .bind(p.agent)
    .bind(p.status)
    .bind(p.priority)
    .bind(p.row.text(&["subject", "title"]))
    .bind(p.created)
    .bind(p.created)
    .bind(p.agent.map(|_| p.created))
    .bind(p.last_activity)
    .bind(p.closed_at)
    .bind(p.closed_by)
    .bind(&p.close_reason)
    // Open and pending tickets wait in the carried-over view until someone reviews them; the
    // inactivity job skips them meanwhile (their last activity predates the switch-over).
    .bind((p.status != TicketStatus::Closed).then_some(ctx.now))
    .fetch_one(&mut *ctx.tx)
    .await
    .row("tickets", table, &id)?;
    ctx.record(table, &id, "tickets", Some(t)).await?;
    ctx.report.counts("tickets").imported += 1;
    if p.status != TicketStatus::Closed {
        ctx.report.carried_over += 1;
    }

    ctx.touched_tickets.insert(t);
    ctx.touched_customers.insert(p.customer);
    // The service counts a closed ticket (KPI "tickets handled", "resolution time") by its
    // resolution sample: closing − start of the care cycle, credited to the agent at closing.
    if let (Some(agent), Some(closed), true) = (p.agent, p.closed_at, p.resolved) {
        let key_table = format!("{table}.resolution");
        sqlx::query(
            "INSERT INTO response_times (ticket_id, agent_id, branch_id, kind, started_at, ended_at, millis)
             VALUES (?, ?, ?, 'resolution', ?, ?, ?)",
        )
        .bind(t)
        .bind(agent)
        .bind(branch)
        .bind(p.created)
        .bind(closed.max(p.created))
        .bind(closed.max(p.created).millis_since(p.created))
        .execute(&mut *ctx.tx)
        .await
        .row("tickets", table, &id)?;
        ctx.record(&key_table, &id, "response_times", None).await?;
        ctx.report.counts("ticket_resolutions").imported += 1;
    }
    Ok(())
}

async fn actor_kind(ctx: &mut Ctx, user: Option<i64>) -> Result<&'static str, ImportError> {
    let Some(u) = user else { return Ok("system") };
    let role: Option<String> = sqlx::query_scalar("SELECT role FROM users WHERE id = ?")
        .bind(u)
        .fetch_optional(&mut *ctx.tx)
        .await
        .step("reading a user's role")?;
    Ok(if role.as_deref() == Some("admin") {
        "admin"
    } else {
        "agent"
    })
}

async fn state_log(
    ctx: &mut Ctx,
    src: &mut Source,
    ticket_table: &str,
    people: &PeopleTables,
) -> Result<(), ImportError> {
    let table = src.model("ticketstatelog");
    if !src.has(&table) {
        ctx.report.absent_tables.push(table.clone());
    }
    for r in src.rows(&table).await? {
        let id = r.id();
        if ctx.skip_row("ticket_state_log", &r) {
            continue;
        }
        let tid = r.text(&["ticket_id"]).unwrap_or_default();
        let Some(ticket) = ctx.target(ticket_table, &tid) else {
            ctx.report.unmappable(
                "ticket_state_log",
                &table,
                &id,
                format!("ticket {tid:?} was not imported"),
            );
            continue;
        };
        let raw_to = r
            .text(&["new_status", "to_status", "status", "new_state"])
            .unwrap_or_default();
        let Some(to) = ticket_status(&raw_to) else {
            ctx.report.unmappable(
                "ticket_state_log",
                &table,
                &id,
                format!("unknown status {raw_to:?}"),
            );
            continue;
        };
        let raw_from = r.text(&["old_status", "from_status", "previous_status", "old_state"]);
        let from = raw_from.as_deref().and_then(ticket_status);
        let mut reason = r.text(&["reason", "note", "notes", "comment", "details"]);
        if let (Some(raw), None) = (&raw_from, from) {
            reason = Some(format!(
                "{} (Django status before: {raw})",
                reason.unwrap_or_default()
            ));
        }
        let user = author(ctx, &r, people).await?;
        let kind = actor_kind(ctx, user).await?;
        let at = r
            .time(&["created_at", "timestamp", "changed_at"], &ctx.tz)
            .unwrap_or(ctx.now);
        let n: i64 = sqlx::query_scalar(
            "INSERT INTO ticket_state_log (ticket_id, from_status, to_status, actor_kind, actor_user_id, reason, at)
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(ticket)
        .bind(from)
        .bind(to)
        .bind(kind)
        .bind(user)
        .bind(reason)
        .bind(at)
        .fetch_one(&mut *ctx.tx)
        .await
        .row("ticket_state_log", &table, &id)?;
        ctx.record(&table, &id, "ticket_state_log", Some(n)).await?;
        ctx.report.counts("ticket_state_log").imported += 1;
    }
    Ok(())
}

async fn transfer_log(
    ctx: &mut Ctx,
    src: &mut Source,
    ticket_table: &str,
    people: &PeopleTables,
) -> Result<(), ImportError> {
    let table = src.model("tickettransferlog");
    if !src.has(&table) {
        ctx.report.absent_tables.push(table.clone());
    }
    for r in src.rows(&table).await? {
        let id = r.id();
        if ctx.skip_row("ticket_transfer_log", &r) {
            continue;
        }
        let tid = r.text(&["ticket_id"]).unwrap_or_default();
        let Some(ticket) = ctx.target(ticket_table, &tid) else {
            ctx.report.unmappable(
                "ticket_transfer_log",
                &table,
                &id,
                format!("ticket {tid:?} was not imported"),
            );
            continue;
        };
        let from = r
            .text(&["from_agent_id", "previous_agent_id", "old_agent_id"])
            .and_then(|a| ctx.target(&people.agents, &a));
        let to = r
            .text(&["to_agent_id", "new_agent_id"])
            .and_then(|a| ctx.target(&people.agents, &a));
        let by = r
            .text(&[
                "transferred_by_id",
                "by_user_id",
                "user_id",
                "created_by_id",
            ])
            .and_then(|u| ctx.target(&people.users, &u));
        let mut branches = [None, None];
        for (slot, agent) in branches.iter_mut().zip([from, to]) {
            if let Some(a) = agent {
                *slot = sqlx::query_scalar::<_, Option<i64>>(
                    "SELECT branch_id FROM agents WHERE id = ?",
                )
                .bind(a)
                .fetch_one(&mut *ctx.tx)
                .await
                .row("ticket_transfer_log", &table, &id)?;
            }
        }
        let note = r
            .text(&["reason", "note", "notes", "comment"])
            .unwrap_or_default();
        let at = r
            .time(&["created_at", "timestamp", "transferred_at"], &ctx.tz)
            .unwrap_or(ctx.now);
        let n: i64 = sqlx::query_scalar(
            "INSERT INTO ticket_transfer_log (ticket_id, kind, from_agent_id, to_agent_id, from_branch_id, to_branch_id, by_user_id, note, at)
             VALUES (?, 'transfer', ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(ticket)
        .bind(from)
        .bind(to)
        .bind(branches[0])
        .bind(branches[1])
        .bind(by)
        .bind(note)
        .bind(at)
        .fetch_one(&mut *ctx.tx)
        .await
        .row("ticket_transfer_log", &table, &id)?;
        ctx.record(&table, &id, "ticket_transfer_log", Some(n))
            .await?;
        ctx.report.counts("ticket_transfer_log").imported += 1;
        ctx.touched_tickets.insert(ticket);
    }
    Ok(())
}
