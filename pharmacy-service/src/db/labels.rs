//! Conversation labels and which tickets carry them.

use super::Conn;
use crate::domain::ids::{BranchId, LabelId, TicketId, UserId};
use crate::domain::label::LabelColor;
use crate::domain::time::Timestamp;
use serde::Serialize;

/// A label row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Label {
    /// Id.
    pub id: LabelId,
    /// Its name, as admins wrote it.
    pub name: String,
    /// Its colour.
    pub color: LabelColor,
    /// When it was archived (no longer offered; tickets and reports keep it).
    #[schema(required = true)]
    pub archived_at: Option<Timestamp>,
}

/// Labels by name; the archived ones too when `archived`.
pub async fn all(c: &mut Conn, archived: bool) -> Result<Vec<Label>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, color, archived_at FROM labels
         WHERE ? OR archived_at IS NULL ORDER BY archived_at IS NOT NULL, name, id",
    )
    .bind(archived)
    .fetch_all(&mut *c)
    .await
}

/// One label.
pub async fn by_id(c: &mut Conn, id: LabelId) -> Result<Option<Label>, sqlx::Error> {
    sqlx::query_as("SELECT id, name, color, archived_at FROM labels WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut *c)
        .await
}

/// Whether a label in use other than `except` has this name (case-insensitive for Latin).
pub async fn name_taken(
    c: &mut Conn,
    name: &str,
    except: Option<LabelId>,
) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM labels WHERE archived_at IS NULL AND name = ? COLLATE NOCASE
         AND id <> ifnull(?, 0)",
    )
    .bind(name)
    .bind(except)
    .fetch_one(&mut *c)
    .await?;
    Ok(n > 0)
}

/// Adds a label.
pub async fn insert(
    c: &mut Conn,
    name: &str,
    color: LabelColor,
    now: Timestamp,
) -> Result<LabelId, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO labels (name, color, created_at, updated_at) VALUES (?, ?, ?, ?) RETURNING id",
    )
    .bind(name)
    .bind(color)
    .bind(now)
    .bind(now)
    .fetch_one(&mut *c)
    .await
    .map(LabelId)
}

/// Renames, recolours, archives or restores a label.
pub async fn update(
    c: &mut Conn,
    id: LabelId,
    name: &str,
    color: LabelColor,
    archived_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE labels SET name = ?, color = ?, archived_at = ?, updated_at = ? WHERE id = ?",
    )
    .bind(name)
    .bind(color)
    .bind(archived_at)
    .bind(now)
    .bind(id)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// The labels of one ticket, by name.
pub async fn of_ticket(c: &mut Conn, ticket: TicketId) -> Result<Vec<Label>, sqlx::Error> {
    sqlx::query_as(
        "SELECT l.id, l.name, l.color, l.archived_at FROM ticket_labels tl
         JOIN labels l ON l.id = tl.label_id WHERE tl.ticket_id = ? ORDER BY l.name, l.id",
    )
    .bind(ticket)
    .fetch_all(&mut *c)
    .await
}

/// The label ids of each of `tickets` (one query for a page of the inbox).
pub async fn ids_of_tickets(
    c: &mut Conn,
    tickets: &[TicketId],
) -> Result<Vec<(TicketId, LabelId)>, sqlx::Error> {
    if tickets.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
        "SELECT ticket_id, label_id FROM ticket_labels WHERE ticket_id IN (",
    );
    let mut list = q.separated(", ");
    for t in tickets {
        list.push_bind(*t);
    }
    q.push(") ORDER BY ticket_id, label_id");
    q.build_query_as().fetch_all(&mut *c).await
}

/// Puts a label on a ticket; false when it was there already.
pub async fn attach(
    c: &mut Conn,
    ticket: TicketId,
    label: LabelId,
    by: UserId,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "INSERT OR IGNORE INTO ticket_labels (ticket_id, label_id, added_by, added_at)
         VALUES (?, ?, ?, ?)",
    )
    .bind(ticket)
    .bind(label)
    .bind(by)
    .bind(now)
    .execute(&mut *c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Takes a label off a ticket; false when it was not there.
pub async fn detach(c: &mut Conn, ticket: TicketId, label: LabelId) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("DELETE FROM ticket_labels WHERE ticket_id = ? AND label_id = ?")
        .bind(ticket)
        .bind(label)
        .execute(&mut *c)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// How many labels a ticket carries.
pub async fn count_on_ticket(c: &mut Conn, ticket: TicketId) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM ticket_labels WHERE ticket_id = ?")
        .bind(ticket)
        .fetch_one(&mut *c)
        .await
}

/// One row of the labels report: tickets opened in the range that carry the label.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct LabelFigure {
    /// The label.
    pub label_id: LabelId,
    /// Its name now.
    pub name: String,
    /// Its colour.
    pub color: LabelColor,
    /// The branch (null: tickets not routed to a branch).
    #[schema(required = true)]
    pub branch_id: Option<BranchId>,
    /// Tickets opened in the range with this label.
    pub tickets: i64,
    /// Of them, closed by now.
    pub closed: i64,
}

/// Tickets created in `[from, to)` per label and branch; `branch` narrows it to one branch.
pub async fn figures(
    c: &mut Conn,
    from: Timestamp,
    to: Timestamp,
    branch: Option<BranchId>,
) -> Result<Vec<LabelFigure>, sqlx::Error> {
    sqlx::query_as(
        "SELECT l.id AS label_id, l.name, l.color, t.branch_id,
                count(*) AS tickets, sum(t.status = 'closed') AS closed
         FROM ticket_labels tl
         JOIN tickets t ON t.id = tl.ticket_id
         JOIN labels l ON l.id = tl.label_id
         WHERE t.created_at >= ? AND t.created_at < ? AND (? IS NULL OR t.branch_id = ?)
         GROUP BY l.id, t.branch_id
         ORDER BY tickets DESC, l.name, t.branch_id",
    )
    .bind(from)
    .bind(to)
    .bind(branch)
    .bind(branch)
    .fetch_all(&mut *c)
    .await
}
