//! Presence that follows the live connections: an agent's first connection brings an offline
//! agent online, the last one closing takes an online agent offline; an explicit `away` is
//! left alone either way.

use super::{App, AppError};
use crate::db;
use crate::domain::ids::AgentId;
use crate::domain::routing::AgentStatus;

impl App {
    /// Moves the agent's presence from `from` to `to` if it is `from` now (through
    /// [`App::set_agent_status`]: coming online hands out the backlog); false when it was not.
    pub async fn follow_presence(
        &self,
        agent: AgentId,
        from: AgentStatus,
        to: AgentStatus,
    ) -> Result<bool, AppError> {
        let now = db::agents::by_id(&mut *self.read().await?, agent).await?;
        if now.is_none_or(|a| a.status != from) {
            return Ok(false);
        }
        self.set_agent_status(agent, to, None).await?;
        Ok(true)
    }
}
