//! Conversation labels: admins define, rename, recolour and archive them; the agents working a
//! ticket put them on and take them off; the inbox filters by them and the reports count them.
//! Every change is one transaction with its activity-log entry.

use super::KpiQuery;
use super::access::{Caller, readable_ticket};
use super::{App, AppError, LiveEvent, not_found};
use crate::db;
use crate::db::labels::{Label, LabelFigure};
use crate::domain::ids::{BranchId, LabelId, TicketId, UserId};
use crate::domain::label::{LabelColor, MAX_PER_TICKET, normalize_name};
use crate::domain::ticket::TicketStatus;
use crate::domain::time::start_of_day;
use serde::Serialize;
use serde_json::json;

/// Tickets per label and branch over a range of days.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LabelReport {
    /// First local day, `YYYY-MM-DD`.
    pub from: String,
    /// Last local day, `YYYY-MM-DD`.
    pub to: String,
    /// One row per label and branch with tickets, most tickets first.
    pub items: Vec<LabelFigure>,
}

/// A change to a label; `None` fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelPatch {
    /// New name.
    pub name: Option<String>,
    /// New colour.
    pub color: Option<LabelColor>,
    /// Archive (`true`) or bring back (`false`).
    pub archived: Option<bool>,
}

fn valid_name(raw: &str) -> Result<String, AppError> {
    normalize_name(raw).map_err(|e| AppError::Invalid {
        field: "name",
        message: e.to_string(),
    })
}

impl App {
    /// The labels in use, by name; archived ones too when `archived`.
    pub async fn labels(&self, archived: bool) -> Result<Vec<Label>, AppError> {
        Ok(db::labels::all(&mut *self.read().await?, archived).await?)
    }

    /// Adds a label (admins). Two labels in use never share a name.
    pub async fn create_label(
        &self,
        by: UserId,
        name: &str,
        color: LabelColor,
    ) -> Result<Label, AppError> {
        let name = valid_name(name)?;
        let now = self.now();
        let mut tx = self.begin().await?;
        if db::labels::name_taken(&mut tx, &name, None).await? {
            return Err(AppError::Conflict(format!("a label named {name:?} exists")));
        }
        let id = db::labels::insert(&mut tx, &name, color, now).await?;
        db::activity::log(
            &mut tx,
            Some(by),
            "label.created",
            Some(("label", id.0)),
            Some(&json!({ "name": name, "color": color })),
            now,
        )
        .await?;
        let label = db::labels::by_id(&mut tx, id)
            .await?
            .ok_or_else(|| not_found("label", id.0))?;
        tx.commit().await?;
        Ok(label)
    }

    /// Renames, recolours, archives or restores a label (admins). Archiving keeps it on the
    /// tickets that carry it and in the reports; it is no longer offered.
    pub async fn update_label(
        &self,
        by: UserId,
        id: LabelId,
        patch: &LabelPatch,
    ) -> Result<Label, AppError> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let old = db::labels::by_id(&mut tx, id)
            .await?
            .ok_or_else(|| not_found("label", id.0))?;
        let name = match &patch.name {
            Some(n) => valid_name(n)?,
            None => old.name.clone(),
        };
        let archived_at = match patch.archived {
            Some(true) => old.archived_at.or(Some(now)),
            Some(false) => None,
            None => old.archived_at,
        };
        if archived_at.is_none() && db::labels::name_taken(&mut tx, &name, Some(id)).await? {
            return Err(AppError::Conflict(format!("a label named {name:?} exists")));
        }
        let color = patch.color.unwrap_or(old.color);
        db::labels::update(&mut tx, id, &name, color, archived_at, now).await?;
        db::activity::log(
            &mut tx,
            Some(by),
            "label.updated",
            Some(("label", id.0)),
            Some(&json!({
                "from": { "name": old.name, "color": old.color, "archived": old.archived_at.is_some() },
                "to": { "name": name, "color": color, "archived": archived_at.is_some() },
            })),
            now,
        )
        .await?;
        let label = db::labels::by_id(&mut tx, id)
            .await?
            .ok_or_else(|| not_found("label", id.0))?;
        tx.commit().await?;
        Ok(label)
    }

    /// The labels of a ticket the caller may read.
    pub async fn ticket_labels(&self, who: &Caller, id: TicketId) -> Result<Vec<Label>, AppError> {
        let mut c = self.read().await?;
        readable_ticket(&mut c, who, id).await?;
        Ok(db::labels::of_ticket(&mut c, id).await?)
    }

    /// Puts a label on a ticket the caller works on (idempotent); answers the ticket's labels.
    /// An archived label cannot be put on any more; a closed ticket can still be labelled
    /// by whoever may act on it (reports are often tidied after the fact).
    pub async fn label_ticket(
        &self,
        who: &Caller,
        ticket: TicketId,
        label: LabelId,
    ) -> Result<Vec<Label>, AppError> {
        self.change_ticket_label(who, ticket, label, true).await
    }

    /// Takes a label off a ticket the caller works on (idempotent); answers its labels.
    pub async fn unlabel_ticket(
        &self,
        who: &Caller,
        ticket: TicketId,
        label: LabelId,
    ) -> Result<Vec<Label>, AppError> {
        self.change_ticket_label(who, ticket, label, false).await
    }

    async fn change_ticket_label(
        &self,
        who: &Caller,
        ticket: TicketId,
        label: LabelId,
        on: bool,
    ) -> Result<Vec<Label>, AppError> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let t = readable_ticket(&mut tx, who, ticket).await?;
        if !who.works_on(&t) {
            return Err(AppError::Forbidden(if t.status == TicketStatus::Closed {
                "an earlier ticket of this customer is read-only".into()
            } else {
                "the ticket is another agent's".into()
            }));
        }
        let l = db::labels::by_id(&mut tx, label)
            .await?
            .ok_or_else(|| not_found("label", label.0))?;
        let changed = if on {
            if l.archived_at.is_some() {
                return Err(AppError::Invalid {
                    field: "label_id",
                    message: "the label is archived".into(),
                });
            }
            if db::labels::count_on_ticket(&mut tx, ticket).await? >= MAX_PER_TICKET as i64 {
                return Err(AppError::Invalid {
                    field: "label_id",
                    message: format!("at most {MAX_PER_TICKET} labels per ticket"),
                });
            }
            db::labels::attach(&mut tx, ticket, label, who.user_id, now).await?
        } else {
            db::labels::detach(&mut tx, ticket, label).await?
        };
        let labels = db::labels::of_ticket(&mut tx, ticket).await?;
        if changed {
            db::activity::log(
                &mut tx,
                Some(who.user_id),
                if on {
                    "ticket.labeled"
                } else {
                    "ticket.unlabeled"
                },
                Some(("ticket", ticket.0)),
                Some(&json!({ "label_id": label, "name": l.name })),
                now,
            )
            .await?;
        }
        tx.commit().await?;
        if changed {
            self.publish_all(vec![LiveEvent::TicketLabels {
                ticket: t,
                labels: labels.clone(),
            }]);
        }
        Ok(labels)
    }

    /// Tickets opened on the range's local days, per label and branch (`branch`: one only).
    pub async fn label_report(
        &self,
        q: KpiQuery,
        branch: Option<BranchId>,
    ) -> Result<LabelReport, AppError> {
        let tz = self.time_zone();
        let from = start_of_day(q.from, tz);
        let to = start_of_day(q.to.tomorrow().unwrap_or(q.to), tz);
        let items = db::labels::figures(&mut *self.read().await?, from, to, branch).await?;
        Ok(LabelReport {
            from: q.from.to_string(),
            to: q.to.to_string(),
            items,
        })
    }
}
