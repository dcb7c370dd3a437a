//! The HTTP caller as the access rules see them. The rules themselves (who may see which
//! ticket, message, customer and file; issue 10, Security) are `app::access`'s; handlers ask
//! the use-cases with [`CurrentUser::caller`], and an object the caller may not see answers
//! 404, as if it did not exist.

use super::auth::CurrentUser;
use crate::app::Caller;

impl CurrentUser {
    /// Who is asking, for the use-cases' access checks.
    pub fn caller(&self) -> Caller {
        Caller {
            user_id: self.id,
            admin: self.is_admin(),
            agent_id: self.agent_id,
            branch_id: self.branch_id,
        }
    }
}
