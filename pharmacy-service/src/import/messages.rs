//! Messages (with their media) and their delivery logs.

use super::context::Ctx;
use super::error::{ImportError, WriteContext};
use super::mapping::{
    SenderKind, Transfer, agent_at, message_kind, outgoing_status, sender, wa_message_id,
};
use super::media::{Media, bring};
use super::people::PeopleTables;
use super::report::MissingMedia;
use super::source::{Row, Source};
use crate::db;
use crate::db::messages::NewMessage;
use crate::domain::ids::{AgentId, CustomerId, TicketId, UserId};
use crate::domain::message::{Direction, MessageKind, MessageStatus};
use std::collections::HashMap;
use std::collections::hash_map::Entry;

/// Rows read from the big tables at a time.
const PAGE: i64 = 5_000;

/// A service ticket's customer, current agent and transfers (oldest first).
type TicketFacts = (i64, Option<i64>, Vec<Transfer>);

/// Imports messages, then delivery logs.
pub(crate) async fn import(
    ctx: &mut Ctx,
    src: &mut Source,
    people: &PeopleTables,
) -> Result<(), ImportError> {
    let table = src.model("message");
    let ticket_table = src.model("ticket");
    let customer_table = src.model("customer");
    if !src.has(&table) {
        ctx.report.absent_tables.push(table.clone());
    }
    let mut tickets: HashMap<i64, TicketFacts> = HashMap::new();
    let mut after = None;
    loop {
        let (page, next) = src.page(&table, after, Some(PAGE)).await?;
        for r in &page {
            message(ctx, r, &ticket_table, &customer_table, people, &mut tickets).await?;
        }
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let log_table = src.model("messagedeliverylog");
    if !src.has(&log_table) {
        ctx.report.absent_tables.push(log_table.clone());
    }
    let mut after = None;
    loop {
        let (page, next) = src.page(&log_table, after, Some(PAGE)).await?;
        for r in page {
            let id = r.id();
            if ctx.skip_row("message_delivery_log", &r) {
                continue;
            }
            let mid = r.text(&["message_id"]).unwrap_or_default();
            let Some(m) = ctx.target(&table, &mid) else {
                ctx.report.unmappable(
                    "message_delivery_log",
                    &log_table,
                    &id,
                    format!("message {mid:?} was not imported"),
                );
                continue;
            };
            let Some(status) = r.text(&["status", "new_status", "event"]) else {
                ctx.report
                    .unmappable("message_delivery_log", &log_table, &id, "no status");
                continue;
            };
            let at = r
                .time(&["timestamp", "created_at", "updated_at"], &ctx.tz)
                .unwrap_or(ctx.now);
            let n: i64 = sqlx::query_scalar(
                "INSERT INTO message_delivery_log (message_id, status, detail, at) VALUES (?, ?, ?, ?) RETURNING id",
            )
            .bind(m)
            .bind(status.to_ascii_lowercase())
            .bind(r.text(&["details", "detail", "error_message", "error", "notes"]))
            .bind(at)
            .fetch_one(&mut *ctx.tx)
            .await
            .row("message_delivery_log", &log_table, &id)?;
            ctx.record(&log_table, &id, "message_delivery_log", Some(n))
                .await?;
            ctx.report.counts("message_delivery_log").imported += 1;
        }
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    Ok(())
}

async fn agent_user(ctx: &mut Ctx, agent: i64) -> Result<Option<i64>, ImportError> {
    sqlx::query_scalar("SELECT user_id FROM agents WHERE id = ?")
        .bind(agent)
        .fetch_optional(&mut *ctx.tx)
        .await
        .step("reading an agent's user")
}

/// For a row without a ticket: the ticket its customer had at the row's time (the latest one
/// opened before it, else their first).
async fn ticket_of_customer(
    ctx: &mut Ctx,
    r: &Row,
    customer_table: &str,
) -> Result<Option<i64>, ImportError> {
    let Some(customer) = r
        .text(&["customer_id"])
        .and_then(|c| ctx.target(customer_table, &c))
    else {
        return Ok(None);
    };
    let at = r
        .time(&["created_at", "timestamp", "sent_at"], &ctx.tz)
        .unwrap_or(ctx.now);
    sqlx::query_scalar(
        "SELECT id FROM tickets WHERE customer_id = ?
         ORDER BY created_at <= ? DESC, CASE WHEN created_at <= ? THEN -created_at ELSE created_at END, id LIMIT 1",
    )
    .bind(customer)
    .bind(at)
    .bind(at)
    .fetch_optional(&mut *ctx.tx)
    .await
    .step("finding a customer's ticket")
}

async fn message(
    ctx: &mut Ctx,
    r: &Row,
    ticket_table: &str,
    customer_table: &str,
    people: &PeopleTables,
    tickets: &mut HashMap<i64, TicketFacts>,
) -> Result<(), ImportError> {
    let (table, id) = (r.table.as_str(), r.id());
    if ctx.skip_row("messages", r) {
        return Ok(());
    }
    let tid = r.text(&["ticket_id", "conversation_id"]);
    let ticket = match &tid {
        Some(t) => ctx.target(ticket_table, t),
        // A message kept per customer only: the customer's ticket of that time.
        None => ticket_of_customer(ctx, r, customer_table).await?,
    };
    let Some(ticket) = ticket else {
        let reason = match tid {
            Some(t) => format!("ticket {t:?} was not imported"),
            None => "no ticket, and no imported ticket of its customer".to_owned(),
        };
        ctx.report.unmappable("messages", table, &id, reason);
        return Ok(());
    };
    if let Entry::Vacant(slot) = tickets.entry(ticket) {
        let (customer, agent): (i64, Option<i64>) =
            sqlx::query_as("SELECT customer_id, agent_id FROM tickets WHERE id = ?")
                .bind(ticket)
                .fetch_one(&mut *ctx.tx)
                .await
                .row("messages", table, &id)?;
        let transfers: Vec<Transfer> = sqlx::query_as(
            "SELECT from_agent_id, to_agent_id, at FROM ticket_transfer_log WHERE ticket_id = ? ORDER BY at, id",
        )
        .bind(ticket)
        .fetch_all(&mut *ctx.tx)
        .await
        .row("messages", table, &id)?;
        slot.insert((customer, agent, transfers));
    }
    let created_at = r
        .time(&["created_at", "timestamp", "sent_at"], &ctx.tz)
        .unwrap_or(ctx.now);
    let (customer, ticket_agent) = {
        let (customer, current, transfers) = &tickets[&ticket];
        // Django keeps only the current agent on the ticket: before a transfer the message
        // belongs to whoever had the ticket then.
        (*customer, agent_at(transfers, created_at, *current))
    };
    let raw_sender = r.text(&["sender", "sender_type", "direction", "from_type"]);
    let kind = match raw_sender.as_deref().and_then(sender) {
        Some(k) => k,
        None => match r.flag(&[
            "is_from_customer",
            "from_customer",
            "is_incoming",
            "incoming",
        ]) {
            Some(true) => SenderKind::Customer,
            Some(false) => SenderKind::Agent,
            None => {
                ctx.report.unmappable(
                    "messages",
                    table,
                    &id,
                    format!("unknown sender {:?}", raw_sender.unwrap_or_default()),
                );
                return Ok(());
            }
        },
    };
    let (direction, sender_kind) = (super::mapping::direction(kind), kind);
    let (agent, sender_user) = match kind {
        SenderKind::Customer => (ticket_agent, None),
        SenderKind::System => (None, None),
        SenderKind::Agent => {
            let explicit = r
                .text(&["sender_agent_id", "agent_id"])
                .and_then(|a| ctx.target(&people.agents, &a));
            let by_user = r
                .text(&["sender_user_id", "sent_by_id", "user_id"])
                .and_then(|u| ctx.target(&people.users, &u));
            let agent = match (explicit, by_user) {
                (Some(a), _) => Some(a),
                (None, Some(u)) => sqlx::query_scalar("SELECT id FROM agents WHERE user_id = ?")
                    .bind(u)
                    .fetch_optional(&mut *ctx.tx)
                    .await
                    .row("messages", table, &id)?,
                (None, None) => ticket_agent,
            };
            let user = match (by_user, agent) {
                (Some(u), _) => Some(u),
                (None, Some(a)) => agent_user(ctx, a).await?,
                (None, None) => None,
            };
            (agent, user)
        }
    };
    let raw_kind = r
        .text(&["message_type", "type", "kind", "media_type"])
        .unwrap_or_else(|| "text".into());
    let media_path = r.text(&[
        "media_file",
        "media_url",
        "media_path",
        "media",
        "file",
        "attachment",
        "file_path",
    ]);
    let msg_kind = match message_kind(&raw_kind) {
        Some(k) => k,
        None => {
            let k = if media_path.is_some() {
                MessageKind::Document
            } else {
                MessageKind::Text
            };
            ctx.report.adjusted(
                "messages",
                table,
                &id,
                format!("unknown message type {raw_kind:?}: imported as {k}"),
            );
            k
        }
    };
    let body = r.body(&["content", "body", "text", "message", "caption"]);
    let mut m = NewMessage {
        ticket_id: TicketId(ticket),
        customer_id: CustomerId(customer),
        direction,
        sender_kind,
        sender_user_id: sender_user.map(UserId),
        agent_id: agent.map(AgentId),
        kind: msg_kind,
        body: body.clone(),
        latitude: r.real(&["latitude", "lat"]),
        longitude: r.real(&["longitude", "lng", "lon"]),
        status: MessageStatus::Received,
        created_at,
        ..NewMessage::default()
    };
    if direction == Direction::Out {
        let raw = r.text(&["status"]).unwrap_or_else(|| "sent".into());
        m.status = match outgoing_status(&raw) {
            Some((s, false)) => s,
            Some((s, true)) => {
                ctx.report.adjusted(
                    "messages",
                    table,
                    &id,
                    format!("still {raw:?} in Django (never confirmed sent): imported as failed, not re-sent"),
                );
                s
            }
            None => {
                ctx.report.adjusted(
                    "messages",
                    table,
                    &id,
                    format!("unknown status {raw:?}: imported as sent"),
                );
                MessageStatus::Sent
            }
        };
    }
    if let Some(wa) = r
        .text(&[
            "whatsapp_message_id",
            "wa_message_id",
            "wa_id",
            "whatsapp_id",
            "external_id",
            "message_id",
        ])
        .and_then(|w| wa_message_id(&w))
    {
        let twin: Option<(i64, i64, Option<String>)> =
            sqlx::query_as("SELECT id, ticket_id, body FROM messages WHERE wa_id = ?")
                .bind(&wa)
                .fetch_optional(&mut *ctx.tx)
                .await
                .row("messages", table, &id)?;
        match twin {
            // The same WhatsApp message stored twice (a webhook retried): one message.
            Some((existing, t, b)) if t == ticket && b == body => {
                ctx.record(table, &id, "messages", Some(existing)).await?;
                ctx.report.counts("messages").merged += 1;
                return Ok(());
            }
            Some((existing, _, _)) => ctx.report.adjusted(
                "messages",
                table,
                &id,
                format!(
                    "WhatsApp id {wa} already belongs to message {existing}: imported without it"
                ),
            ),
            None => m.wa_id = Some(wa),
        }
    }
    if let Some(path) = &media_path {
        let hint = r.text(&["media_mime", "mime_type", "mimetype", "content_type"]);
        match bring(ctx, path, hint.as_deref()).await? {
            Media::Stored { sha256, mime, name } => {
                m.media_sha256 = Some(sha256);
                m.media_mime = Some(mime);
                m.media_name = Some(name);
            }
            Media::NotCopied { name, reason } => {
                m.media_name = Some(name);
                m.media_mime = hint.map(|h| crate::domain::mime::normalise(&h).to_owned());
                ctx.report.missing_media.push(MissingMedia {
                    message_id: id.clone(),
                    path: path.clone(),
                    reason,
                });
            }
        }
    }
    let new = db::messages::insert(&mut ctx.tx, &m)
        .await
        .row("messages", table, &id)?;
    ctx.record(table, &id, "messages", Some(new.0)).await?;
    ctx.report.counts("messages").imported += 1;
    ctx.touched_tickets.insert(ticket);
    Ok(())
}
