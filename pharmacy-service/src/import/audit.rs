//! The activity log and login attempts.

use super::context::Ctx;
use super::error::{ImportError, WriteContext};
use super::people::PeopleTables;
use super::source::Source;

/// Rows read at a time.
const PAGE: i64 = 5_000;

/// Imports `ActivityLog` and `LoginAttempt`.
pub(crate) async fn import(
    ctx: &mut Ctx,
    src: &mut Source,
    people: &PeopleTables,
) -> Result<(), ImportError> {
    const A: &str = "activity_log";
    let table = src.model("activitylog");
    if !src.has(&table) {
        ctx.report.absent_tables.push(table.clone());
    }
    let mut after = None;
    loop {
        let (page, next) = src.page(&table, after, Some(PAGE)).await?;
        for r in page {
            let id = r.id();
            if ctx.skip_row(A, &r) {
                continue;
            }
            let Some(action) = r.text(&["action", "action_type", "event"]) else {
                ctx.report.unmappable(A, &table, &id, "no action");
                continue;
            };
            let user = r
                .text(&["user_id"])
                .and_then(|u| ctx.target(&people.users, &u));
            let details = r
                .text(&["details", "description", "data", "extra"])
                .map(|d| {
                    serde_json::from_str::<serde_json::Value>(&d)
                        .unwrap_or(serde_json::Value::String(d))
                });
            let details = serde_json::json!({ "source": "django", "details": details });
            let n: i64 = sqlx::query_scalar(
                "INSERT INTO activity_log (user_id, action, entity_kind, entity_id, details_json, address, at)
                 VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            )
            .bind(user)
            .bind(&action)
            .bind(r.text(&["entity_type", "model", "object_type"]))
            .bind(r.int(&["entity_id", "object_id"]))
            .bind(details.to_string())
            .bind(r.text(&["ip_address", "address", "ip"]))
            .bind(
                r.time(&["timestamp", "created_at"], &ctx.tz)
                    .unwrap_or(ctx.now),
            )
            .fetch_one(&mut *ctx.tx)
            .await
            .row(A, &table, &id)?;
            ctx.record(&table, &id, A, Some(n)).await?;
            ctx.report.counts(A).imported += 1;
        }
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    const L: &str = "login_attempts";
    let table = src.model("loginattempt");
    if !src.has(&table) {
        ctx.report.absent_tables.push(table.clone());
    }
    let mut after = None;
    loop {
        let (page, next) = src.page(&table, after, Some(PAGE)).await?;
        for r in page {
            let id = r.id();
            if ctx.skip_row(L, &r) {
                continue;
            }
            let Some(username) = r.text(&["username", "user_name", "login"]) else {
                ctx.report.unmappable(L, &table, &id, "no username");
                continue;
            };
            let n: i64 = sqlx::query_scalar(
                "INSERT INTO login_attempts (username, address, success, at) VALUES (?, ?, ?, ?) RETURNING id",
            )
            .bind(&username)
            .bind(r.text(&["ip_address", "address", "ip"]))
            .bind(r.flag(&["success", "successful", "was_successful"]).unwrap_or(false))
            .bind(
                r.time(&["timestamp", "attempted_at", "created_at"], &ctx.tz)
                    .unwrap_or(ctx.now),
            )
            .fetch_one(&mut *ctx.tx)
            .await
            .row(L, &table, &id)?;
            ctx.record(&table, &id, L, Some(n)).await?;
            ctx.report.counts(L).imported += 1;
        }
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    Ok(())
}
