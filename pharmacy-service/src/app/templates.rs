//! Reply templates (global, an agent's own, the system ones) and keyword auto-replies: who may
//! see and change which, and each change with its activity-log entry in one transaction.

use super::{App, AppError, not_found};
use crate::db;
use crate::db::templates::{StoredTrigger, Template};
use crate::domain::autoreply::MatchKind;
use crate::domain::ids::{AgentId, BranchId, TemplateId, TriggerId, UserId};
use serde_json::json;

/// Keys of the templates the service itself sends (saved global, they are marked system).
const SYSTEM_KEYS: &[&str] = &[
    "greeting",
    "out_of_office",
    "csat_survey",
    "transfer_notice",
];

/// Who is changing templates: admins manage the global ones, agents (and admins, as
/// `personal`) their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateEditor {
    /// The user (for the activity log).
    pub user: UserId,
    /// Whether they are an admin.
    pub admin: bool,
    /// Their agent seat, if any.
    pub agent: Option<AgentId>,
}

/// A template to save under its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateInput {
    /// Stable key (1 to 64 characters).
    pub key: String,
    /// Title.
    pub title: String,
    /// Text with variables.
    pub body: String,
    /// Admins: their own instead of a global one.
    pub personal: bool,
}

/// A keyword auto-reply to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAutoReply {
    /// The keyword.
    pub keyword: String,
    /// How it matches.
    pub match_kind: MatchKind,
    /// The reply.
    pub body: String,
    /// Only for this branch's tickets.
    pub branch_id: Option<BranchId>,
}

fn required(field: &'static str, v: &str) -> Result<(), AppError> {
    if v.trim().is_empty() {
        return Err(AppError::Invalid {
            field,
            message: "required".into(),
        });
    }
    Ok(())
}

impl App {
    /// The templates `who` may use: every one for admins, else the global ones and their own.
    pub async fn templates_for(&self, who: TemplateEditor) -> Result<Vec<Template>, AppError> {
        let mut c = self.read().await?;
        Ok(if who.admin {
            db::templates::all(&mut c).await?
        } else {
            db::templates::for_agent(&mut c, who.agent).await?
        })
    }

    /// Creates or replaces `who`'s template with this key (admins: a global one unless
    /// `personal`; a global one with a system key is marked system).
    pub async fn save_template(
        &self,
        who: TemplateEditor,
        t: &TemplateInput,
    ) -> Result<Template, AppError> {
        let key = t.key.trim();
        if key.is_empty() || key.chars().count() > 64 {
            return Err(AppError::Invalid {
                field: "key",
                message: "1 to 64 characters".into(),
            });
        }
        required("title", &t.title)?;
        required("body", &t.body)?;
        let owner = if who.admin && !t.personal {
            None
        } else {
            Some(
                who.agent
                    .ok_or_else(|| AppError::Forbidden("no agent seat".into()))?,
            )
        };
        let system = owner.is_none() && SYSTEM_KEYS.contains(&key);
        let now = self.now();
        let mut tx = self.begin().await?;
        let id = db::templates::upsert(&mut tx, owner, key, t.title.trim(), &t.body, system, now)
            .await?;
        let saved = db::templates::by_id(&mut tx, id)
            .await?
            .ok_or_else(|| not_found("template", id.0))?;
        db::activity::log(
            &mut tx,
            Some(who.user),
            "template.saved",
            Some(("template", id.0)),
            Some(&json!({ "key": key, "global": owner.is_none() })),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(saved)
    }

    /// Deletes a template: admins any, agents only their own (someone else's is not found;
    /// a global one is forbidden).
    pub async fn delete_template(
        &self,
        who: TemplateEditor,
        id: TemplateId,
    ) -> Result<(), AppError> {
        let mut tx = self.begin().await?;
        let t = db::templates::by_id(&mut tx, id)
            .await?
            .ok_or_else(|| not_found("template", id.0))?;
        let mine = t.owner_agent_id.is_some() && t.owner_agent_id == who.agent;
        if !who.admin && !mine {
            return Err(match t.owner_agent_id {
                None => AppError::Forbidden("global templates are the admins'".into()),
                Some(_) => not_found("template", id.0),
            });
        }
        db::templates::delete(&mut tx, id).await?;
        db::activity::log(
            &mut tx,
            Some(who.user),
            "template.deleted",
            Some(("template", id.0)),
            Some(&json!({ "key": t.key })),
            self.now(),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every keyword auto-reply, active or not.
    pub async fn all_auto_replies(&self) -> Result<Vec<StoredTrigger>, AppError> {
        let mut c = self.read().await?;
        Ok(db::templates::all_triggers(&mut c).await?)
    }

    /// Adds a keyword auto-reply (an admin's action).
    pub async fn add_auto_reply(
        &self,
        by: UserId,
        r: &NewAutoReply,
    ) -> Result<StoredTrigger, AppError> {
        required("keyword", &r.keyword)?;
        required("body", &r.body)?;
        let now = self.now();
        let mut tx = self.begin().await?;
        if let Some(b) = r.branch_id
            && db::branches::by_id(&mut tx, b).await?.is_none()
        {
            return Err(AppError::Invalid {
                field: "branch_id",
                message: "no such branch".into(),
            });
        }
        let keyword = r.keyword.trim();
        let id =
            db::templates::add_trigger(&mut tx, keyword, r.match_kind, &r.body, r.branch_id, now)
                .await?;
        db::activity::log(
            &mut tx,
            Some(by),
            "auto_reply.created",
            Some(("auto_reply", id.0)),
            Some(&json!({ "keyword": keyword })),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(StoredTrigger {
            id,
            keyword: keyword.to_owned(),
            match_kind: r.match_kind.as_str().to_owned(),
            body: r.body.clone(),
            branch_id: r.branch_id,
            is_active: true,
            created_at: now,
        })
    }

    /// Deletes a keyword auto-reply (an admin's action).
    pub async fn delete_auto_reply(&self, by: UserId, id: TriggerId) -> Result<(), AppError> {
        let mut tx = self.begin().await?;
        if !db::templates::delete_trigger(&mut tx, id).await? {
            return Err(not_found("auto-reply", id.0));
        }
        db::activity::log(
            &mut tx,
            Some(by),
            "auto_reply.deleted",
            Some(("auto_reply", id.0)),
            Some(&json!({})),
            self.now(),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
