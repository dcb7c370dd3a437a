//! Reply templates (global and per agent) and auto-reply triggers.

use super::context::Ctx;
use super::error::{ImportError, WriteContext};
use super::mapping::{match_kind, slug};
use super::people::PeopleTables;
use super::source::{Row, Source};

/// Imports `GlobalTemplate`, `AgentTemplate` and `AutoReplyTrigger`.
pub(crate) async fn import(
    ctx: &mut Ctx,
    src: &mut Source,
    people: &PeopleTables,
) -> Result<(), ImportError> {
    for model in ["globaltemplate", "agenttemplate"] {
        let table = src.model(model);
        if !src.has(&table) {
            ctx.report.absent_tables.push(table.clone());
        }
        for r in src.rows(&table).await? {
            template(ctx, &r, model == "agenttemplate", people).await?;
        }
    }
    let table = src.model("autoreplytrigger");
    if !src.has(&table) {
        ctx.report.absent_tables.push(table.clone());
    }
    for r in src.rows(&table).await? {
        trigger(ctx, &r).await?;
    }
    Ok(())
}

async fn template(
    ctx: &mut Ctx,
    r: &Row,
    per_agent: bool,
    people: &PeopleTables,
) -> Result<(), ImportError> {
    let (table, id) = (r.table.as_str(), r.id());
    if ctx.skip_row("templates", r) {
        return Ok(());
    }
    let owner = if per_agent {
        let aid = r.text(&["agent_id", "owner_id"]).unwrap_or_default();
        match ctx.target(&people.agents, &aid) {
            Some(a) => Some(a),
            None => {
                ctx.report.unmappable(
                    "templates",
                    table,
                    &id,
                    format!("agent {aid:?} was not imported"),
                );
                return Ok(());
            }
        }
    } else {
        None
    };
    let Some(body) = r.text(&["content", "body", "text", "message", "template"]) else {
        ctx.report
            .unmappable("templates", table, &id, "empty template");
        return Ok(());
    };
    let title = r
        .text(&["name", "title"])
        .unwrap_or_else(|| format!("Template {id}"));
    let mut key = r
        .text(&["shortcut", "key", "code", "slug"])
        .map(|k| slug(&k))
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| slug(&title));
    if key.is_empty() {
        key = format!("template-{id}");
    }
    let same: Option<(i64, String)> = sqlx::query_as(
        "SELECT id, body FROM templates WHERE ifnull(owner_agent_id, 0) = ifnull(?, 0) AND key = ?",
    )
    .bind(owner)
    .bind(&key)
    .fetch_optional(&mut *ctx.tx)
    .await
    .row("templates", table, &id)?;
    match same {
        Some((existing, b)) if b == body => {
            ctx.record(table, &id, "templates", Some(existing)).await?;
            ctx.report.counts("templates").merged += 1;
            return Ok(());
        }
        Some(_) => {
            let renamed = format!("{key}-{id}");
            ctx.report.adjusted(
                "templates",
                table,
                &id,
                format!("key {key:?} is taken by a service template: imported as {renamed:?}"),
            );
            key = renamed;
        }
        None => {}
    }
    if r.flag(&["is_active", "active"]) == Some(false) {
        ctx.report.adjusted(
            "templates",
            table,
            &id,
            "inactive in Django: imported (the service has no inactive templates)",
        );
    }
    let created = r.time(&["created_at"], &ctx.tz).unwrap_or(ctx.now);
    let updated = r.time(&["updated_at"], &ctx.tz).unwrap_or(created);
    let t: i64 = sqlx::query_scalar(
        "INSERT INTO templates (owner_agent_id, key, title, body, is_system, created_at, updated_at)
         VALUES (?, ?, ?, ?, 0, ?, ?) RETURNING id",
    )
    .bind(owner)
    .bind(&key)
    .bind(&title)
    .bind(&body)
    .bind(created)
    .bind(updated.max(created))
    .fetch_one(&mut *ctx.tx)
    .await
    .row("templates", table, &id)?;
    ctx.record(table, &id, "templates", Some(t)).await?;
    ctx.report.counts("templates").imported += 1;
    Ok(())
}

async fn trigger(ctx: &mut Ctx, r: &Row) -> Result<(), ImportError> {
    let (table, id) = (r.table.as_str(), r.id());
    if ctx.skip_row("auto_reply_triggers", r) {
        return Ok(());
    }
    let Some(keyword) = r.text(&[
        "keyword",
        "trigger",
        "trigger_text",
        "trigger_keyword",
        "pattern",
    ]) else {
        ctx.report
            .unmappable("auto_reply_triggers", table, &id, "no keyword");
        return Ok(());
    };
    let Some(body) = r.text(&[
        "response",
        "reply",
        "response_text",
        "reply_text",
        "reply_message",
        "message",
        "content",
    ]) else {
        ctx.report
            .unmappable("auto_reply_triggers", table, &id, "no reply text");
        return Ok(());
    };
    let raw_match = r.text(&["match_type", "match_kind", "matching"]);
    let Some(kind) = match_kind(raw_match.as_deref()) else {
        ctx.report.unmappable(
            "auto_reply_triggers",
            table,
            &id,
            format!(
                "match type {:?} is not supported (contains, exact, starts_with)",
                raw_match.unwrap_or_default()
            ),
        );
        return Ok(());
    };
    let t: i64 = sqlx::query_scalar(
        "INSERT INTO auto_reply_triggers (keyword, match_kind, body, branch_id, is_active, created_at)
         VALUES (?, ?, ?, NULL, ?, ?) RETURNING id",
    )
    .bind(&keyword)
    .bind(kind)
    .bind(&body)
    .bind(r.flag(&["is_active", "active", "enabled"]).unwrap_or(true))
    .bind(r.time(&["created_at"], &ctx.tz).unwrap_or(ctx.now))
    .fetch_one(&mut *ctx.tx)
    .await
    .row("auto_reply_triggers", table, &id)?;
    ctx.record(table, &id, "auto_reply_triggers", Some(t))
        .await?;
    ctx.report.counts("auto_reply_triggers").imported += 1;
    Ok(())
}
