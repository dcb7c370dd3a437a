//! The agent directory, the branches and the logins: reads, and saving a branch with its
//! activity-log entry in one transaction.

use super::{App, AppError, not_found};
use crate::db;
use crate::db::agents::Agent;
use crate::db::branches::{Branch, NewBranch};
use crate::db::users::User;
use crate::domain::ids::{AgentId, BranchId, UserId};
use serde_json::json;

impl App {
    /// Every agent, inactive ones too.
    pub async fn agents(&self) -> Result<Vec<Agent>, AppError> {
        let mut c = self.read().await?;
        Ok(db::agents::list(&mut c).await?)
    }

    /// One agent.
    pub async fn agent(&self, id: AgentId) -> Result<Agent, AppError> {
        let mut c = self.read().await?;
        db::agents::by_id(&mut c, id)
            .await?
            .ok_or_else(|| not_found("agent", id.0))
    }

    /// Every branch.
    pub async fn branches(&self) -> Result<Vec<Branch>, AppError> {
        let mut c = self.read().await?;
        Ok(db::branches::list(&mut c).await?)
    }

    /// One branch, if it exists.
    pub async fn branch(&self, id: BranchId) -> Result<Option<Branch>, AppError> {
        let mut c = self.read().await?;
        Ok(db::branches::by_id(&mut c, id).await?)
    }

    /// Creates a branch, or updates the one with this code (an admin's action).
    pub async fn save_branch(&self, by: UserId, b: &NewBranch) -> Result<Branch, AppError> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let id = db::branches::upsert(&mut tx, b, now).await?;
        let saved = db::branches::by_id(&mut tx, id)
            .await?
            .ok_or_else(|| not_found("branch", id.0))?;
        db::activity::log(
            &mut tx,
            Some(by),
            "branch.saved",
            Some(("branch", id.0)),
            Some(&json!({ "code": saved.code })),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(saved)
    }

    /// Every login.
    pub async fn users(&self) -> Result<Vec<User>, AppError> {
        let mut c = self.read().await?;
        Ok(db::users::list(&mut c).await?)
    }

    /// Whether any login exists.
    pub async fn has_users(&self) -> Result<bool, AppError> {
        let mut c = self.read().await?;
        Ok(db::users::any(&mut c).await?)
    }

    /// An active user and their agent seat, if any (who is calling).
    pub async fn active_user(&self, id: UserId) -> Result<Option<(User, Option<Agent>)>, AppError> {
        let mut c = self.read().await?;
        let Some(u) = db::users::by_id(&mut c, id).await?.filter(|u| u.is_active) else {
            return Ok(None);
        };
        let agent = db::agents::by_user(&mut c, id).await?;
        Ok(Some((u, agent)))
    }
}
