//! What finishing the switch-over from the old system reads and moves: per-branch counts, and
//! re-pointing every reference to an imported legacy branch at the real one.

use super::Conn;
use crate::domain::ids::BranchId;

/// Every table column that names a branch, moved when a legacy branch is mapped (holidays are
/// not moved: the legacy row's own go with it).
const BRANCH_COLUMNS: &[(&str, &str)] = &[
    ("agents", "branch_id"),
    ("customers", "home_branch_id"),
    ("tickets", "branch_id"),
    ("ticket_transfer_log", "from_branch_id"),
    ("ticket_transfer_log", "to_branch_id"),
    ("ticket_events", "branch_id"),
    ("auto_reply_triggers", "branch_id"),
    ("response_times", "branch_id"),
    ("agent_delay_events", "branch_id"),
    ("csat_ratings", "branch_id"),
];

/// How many agents each branch has (branches without agents are absent).
pub async fn agents_per_branch(c: &mut Conn) -> Result<Vec<(BranchId, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT branch_id, count(*) FROM agents WHERE branch_id IS NOT NULL GROUP BY branch_id",
    )
    .fetch_all(&mut *c)
    .await
}

/// How many tickets not closed each branch has (branches without any are absent).
pub async fn open_tickets_per_branch(c: &mut Conn) -> Result<Vec<(BranchId, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT branch_id, count(*) FROM tickets WHERE branch_id IS NOT NULL AND status <> 'closed'
         GROUP BY branch_id",
    )
    .fetch_all(&mut *c)
    .await
}

/// Agents without a branch.
pub async fn agents_without_branch(c: &mut Conn) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM agents WHERE branch_id IS NULL")
        .fetch_one(&mut *c)
        .await
}

/// Tickets carried over from the old system and not closed yet.
pub async fn open_carried_over(c: &mut Conn) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM tickets WHERE carried_over_at IS NOT NULL AND status <> 'closed'",
    )
    .fetch_one(&mut *c)
    .await
}

/// Moves everything that names `legacy` to `to` (the import's ledger included, so that a
/// later import run maps the old label there too), then deletes the legacy row.
pub async fn merge_branch(c: &mut Conn, legacy: BranchId, to: BranchId) -> Result<(), sqlx::Error> {
    for (table, column) in BRANCH_COLUMNS {
        sqlx::query(&format!(
            "UPDATE {table} SET {column} = ?1 WHERE {column} = ?2"
        ))
        .bind(to)
        .bind(legacy)
        .execute(&mut *c)
        .await?;
    }
    sqlx::query(
        "UPDATE import_source_ids SET target_id = ?1
         WHERE target_table = 'branches' AND target_id = ?2",
    )
    .bind(to)
    .bind(legacy)
    .execute(&mut *c)
    .await?;
    sqlx::query("DELETE FROM branches WHERE id = ?")
        .bind(legacy)
        .execute(&mut *c)
        .await?;
    Ok(())
}
