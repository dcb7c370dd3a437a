//! Customers (merged by normalised phone number), their tags and notes.

use super::context::Ctx;
use super::error::{ImportError, WriteContext};
use super::mapping::{Identity, customer_identity, split_tags};
use super::people::PeopleTables;
use super::source::{Row, Source};
use crate::db;
use crate::db::customers::CustomerPatch;
use crate::domain::ids::CustomerId;

/// Imports customers, then the tags (the `CustomerTag` table and the `Customer.tags` text),
/// then the notes.
pub(crate) async fn import(
    ctx: &mut Ctx,
    src: &mut Source,
    people: &PeopleTables,
) -> Result<(), ImportError> {
    let table = src.model("customer");
    for r in src.rows(&table).await? {
        customer(ctx, &r).await?;
    }
    let tag_table = src.model("customertag");
    if !src.has(&tag_table) {
        ctx.report.absent_tables.push(tag_table.clone());
    }
    for r in src.rows(&tag_table).await? {
        let id = r.id();
        if ctx.skip_row("customer_tags", &r) {
            continue;
        }
        let Some(cust) = customer_of(ctx, &r, &table, "customer_tags") else {
            continue;
        };
        let Some(tag) = r.text(&["tag_name", "name", "tag"]) else {
            ctx.report
                .unmappable("customer_tags", &tag_table, &id, "empty tag");
            continue;
        };
        let at = r.time(&["created_at"], &ctx.tz).unwrap_or(ctx.now);
        add_tag(ctx, &tag_table, &id, cust, &tag, at).await?;
    }
    let note_table = src.model("customernote");
    if !src.has(&note_table) {
        ctx.report.absent_tables.push(note_table.clone());
    }
    for r in src.rows(&note_table).await? {
        note(ctx, &r, &table, people).await?;
    }
    Ok(())
}

fn customer_of(ctx: &mut Ctx, r: &Row, customer_table: &str, entity: &str) -> Option<CustomerId> {
    let cid = r.text(&["customer_id"]).unwrap_or_default();
    let found = ctx.target(customer_table, &cid).map(CustomerId);
    if found.is_none() {
        ctx.report.unmappable(
            entity,
            &r.table,
            &r.id(),
            format!("customer {cid:?} was not imported"),
        );
    }
    found
}

async fn customer(ctx: &mut Ctx, r: &Row) -> Result<(), ImportError> {
    let (table, id) = (r.table.as_str(), r.id());
    if ctx.skip_row("customers", r) {
        return Ok(());
    }
    let raw = r
        .text(&["phone", "phone_number", "whatsapp_id", "wa_id", "mobile"])
        .unwrap_or_default();
    let identity = match customer_identity(&raw) {
        Ok(i) => i,
        Err(reason) => {
            let reason = if raw.is_empty() {
                "no phone number".to_owned()
            } else {
                reason
            };
            ctx.report.unmappable("customers", table, &id, reason);
            return Ok(());
        }
    };
    let (phone, lid) = match &identity {
        Identity::Phone(p) => (Some(p.as_str()), None),
        Identity::Lid(l) => (None, Some(l.as_str())),
    };
    let name = r.text(&["name", "full_name", "display_name"]);
    let email = r.text(&["email"]);
    let existing = match (phone, lid) {
        (Some(p), _) => db::customers::by_phone(&mut ctx.tx, p).await,
        (_, Some(l)) => db::customers::by_lid(&mut ctx.tx, l).await,
        _ => Ok(None),
    }
    .row("customers", table, &id)?;
    let cust = if let Some(e) = existing {
        // The same person twice (two spellings of one number in Django, or a customer who
        // already wrote to the service): keep one row, fill in what it lacks.
        let patch = CustomerPatch {
            name: name.clone().filter(|_| e.name.is_none()),
            email: email.clone().filter(|_| e.email.is_none()),
            home_branch_id: None,
        };
        if patch.name.is_some() || patch.email.is_some() {
            db::customers::patch(&mut ctx.tx, e.id, &patch, ctx.now)
                .await
                .row("customers", table, &id)?;
        }
        ctx.report.counts("customers").merged += 1;
        ctx.report.adjusted(
            "customers",
            table,
            &id,
            format!("same number as service customer {} ({raw}): merged", e.id),
        );
        e.id
    } else {
        let source = r.text(&["source"]).unwrap_or_else(|| "whatsapp".into());
        let c = db::customers::insert(
            &mut ctx.tx,
            phone,
            lid,
            name.as_deref(),
            None,
            &source,
            ctx.now,
        )
        .await
        .row("customers", table, &id)?;
        let created = r
            .time(&["created_at", "date_joined"], &ctx.tz)
            .unwrap_or(ctx.now);
        let updated = r
            .time(&["updated_at", "last_seen", "last_message_at"], &ctx.tz)
            .unwrap_or(created);
        sqlx::query(
            "UPDATE customers SET email = ?, satisfaction = ?, created_at = ?, updated_at = ? WHERE id = ?",
        )
        .bind(&email)
        .bind(r.real(&["satisfaction", "satisfaction_score", "rating"]))
        .bind(created)
        .bind(updated.max(created))
        .bind(c)
        .execute(&mut *ctx.tx)
        .await
        .row("customers", table, &id)?;
        if email.is_some() {
            // Re-index with the e-mail (the insert indexed name and number only).
            db::customers::patch(
                &mut ctx.tx,
                c,
                &CustomerPatch::default(),
                updated.max(created),
            )
            .await
            .row("customers", table, &id)?;
        }
        ctx.report.counts("customers").imported += 1;
        c
    };
    ctx.record(table, &id, "customers", Some(cust.0)).await?;
    ctx.touched_customers.insert(cust.0);
    if let Some(tags) = r.text(&["tags"]) {
        let key_table = format!("{table}.tags");
        let at = r.time(&["created_at"], &ctx.tz).unwrap_or(ctx.now);
        for tag in split_tags(&tags) {
            let key = format!("{id}:{tag}");
            if !ctx.skip_seen("customer_tags", &key_table, &key) {
                add_tag(ctx, &key_table, &key, cust, &tag, at).await?;
            }
        }
    }
    Ok(())
}

async fn add_tag(
    ctx: &mut Ctx,
    table: &str,
    id: &str,
    cust: CustomerId,
    tag: &str,
    at: crate::domain::time::Timestamp,
) -> Result<(), ImportError> {
    let added = sqlx::query(
        "INSERT OR IGNORE INTO customer_tags (customer_id, tag, created_at) VALUES (?, ?, ?)",
    )
    .bind(cust)
    .bind(tag)
    .bind(at)
    .execute(&mut *ctx.tx)
    .await
    .row("customer_tags", table, id)?
    .rows_affected()
        == 1;
    ctx.record(table, id, "customers", Some(cust.0)).await?;
    let c = ctx.report.counts("customer_tags");
    if added {
        c.imported += 1;
    } else {
        c.merged += 1;
    }
    Ok(())
}

async fn note(
    ctx: &mut Ctx,
    r: &Row,
    customer_table: &str,
    people: &PeopleTables,
) -> Result<(), ImportError> {
    let (table, id) = (r.table.as_str(), r.id());
    if ctx.skip_row("customer_notes", r) {
        return Ok(());
    }
    let Some(cust) = customer_of(ctx, r, customer_table, "customer_notes") else {
        return Ok(());
    };
    let Some(body) = r.text(&["note_content", "content", "note", "body", "text"]) else {
        ctx.report
            .unmappable("customer_notes", table, &id, "empty note");
        return Ok(());
    };
    let author = author(ctx, r, people).await?;
    let at = r
        .time(&["created_at", "timestamp"], &ctx.tz)
        .unwrap_or(ctx.now);
    let n: i64 = sqlx::query_scalar(
        "INSERT INTO customer_notes (customer_id, author_user_id, body, created_at) VALUES (?, ?, ?, ?) RETURNING id",
    )
    .bind(cust)
    .bind(author)
    .bind(&body)
    .bind(at)
    .fetch_one(&mut *ctx.tx)
    .await
    .row("customer_notes", table, &id)?;
    ctx.record(table, &id, "customer_notes", Some(n)).await?;
    ctx.report.counts("customer_notes").imported += 1;
    Ok(())
}

/// The service user behind a Django row's author: an `agent_id` (Agent table) or a
/// `user_id`/`author_id`/`created_by_id` (user table).
pub(crate) async fn author(
    ctx: &mut Ctx,
    r: &Row,
    people: &PeopleTables,
) -> Result<Option<i64>, ImportError> {
    if let Some(a) = r
        .text(&["agent_id"])
        .and_then(|a| ctx.target(&people.agents, &a))
    {
        return sqlx::query_scalar("SELECT user_id FROM agents WHERE id = ?")
            .bind(a)
            .fetch_optional(&mut *ctx.tx)
            .await
            .step("reading an agent's user");
    }
    Ok(r.text(&[
        "user_id",
        "author_id",
        "created_by_id",
        "changed_by_id",
        "actor_id",
    ])
    .and_then(|u| ctx.target(&people.users, &u)))
}
