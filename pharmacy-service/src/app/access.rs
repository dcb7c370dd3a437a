//! Who may see what, checked on every object (issue 10, Security): an admin sees everything;
//! an agent sees the tickets assigned to them and their branch's unassigned queue, the earlier
//! tickets and ratings of the customers they are serving, and the directory of agents and
//! branches; nothing else. Invisible objects are "not found", as if they did not exist.

use super::{App, AppError};
use crate::db;
use crate::db::Conn;
use crate::db::customers::Customer;
use crate::db::messages::Message;
use crate::db::tickets::Ticket;
use crate::domain::ids::{AgentId, BranchId, CustomerId, MessageId, TicketId, UserId};
use crate::domain::mime;
use crate::domain::ticket::TicketStatus;

/// The caller, as the access rules see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// The user.
    pub user_id: UserId,
    /// An admin (sees everything).
    pub admin: bool,
    /// Their agent seat.
    pub agent_id: Option<AgentId>,
    /// Their branch.
    pub branch_id: Option<BranchId>,
}

impl Caller {
    /// Whether they work this ticket: assigned to them, or unassigned in their branch's queue
    /// (or in no branch yet). Admins: always.
    pub fn works_on(&self, t: &Ticket) -> bool {
        if self.admin {
            return true;
        }
        let Some(agent) = self.agent_id else {
            return false;
        };
        t.agent_id == Some(agent)
            || (t.agent_id.is_none() && (t.branch_id.is_none() || t.branch_id == self.branch_id))
    }
}

/// A stored file the caller may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadableMedia {
    /// Content address (lowercase hex).
    pub sha256: String,
    /// Canonical type ([`mime::normalise`] of the stored one).
    pub mime: &'static str,
    /// The file name of a message that carries it and the caller may read.
    pub name: Option<String>,
}

/// Whether the caller serves this customer now: one of the customer's tickets that is not
/// closed is assigned to them (a queue ticket's customer becomes theirs when they claim it).
pub(crate) async fn serves(
    c: &mut Conn,
    who: &Caller,
    customer: CustomerId,
) -> Result<bool, AppError> {
    if who.admin {
        return Ok(true);
    }
    match who.agent_id {
        Some(agent) => Ok(db::tickets::agent_serves(c, agent, customer).await?),
        None => Ok(false),
    }
}

/// Loads a ticket the caller may read (they work on it, or it is an earlier ticket of a
/// customer they serve): "not found" otherwise.
pub(crate) async fn readable_ticket(
    c: &mut Conn,
    who: &Caller,
    id: TicketId,
) -> Result<Ticket, AppError> {
    let not_found = || AppError::NotFound {
        entity: "ticket",
        id: id.0,
    };
    let t = db::tickets::by_id(c, id).await?.ok_or_else(not_found)?;
    if who.works_on(&t) || serves(c, who, t.customer_id).await? {
        Ok(t)
    } else {
        Err(not_found())
    }
}

/// Loads a message in a ticket the caller may read: "not found" otherwise (the same answer
/// for a message that does not exist).
pub(crate) async fn readable_message(
    c: &mut Conn,
    who: &Caller,
    id: MessageId,
) -> Result<Message, AppError> {
    let not_found = || AppError::NotFound {
        entity: "message",
        id: id.0,
    };
    let m = db::messages::by_id(c, id).await?.ok_or_else(not_found)?;
    readable_ticket(c, who, m.ticket_id)
        .await
        .map_err(|_| not_found())?;
    Ok(m)
}

impl App {
    /// Whether the caller serves this customer now (see [`serves`]).
    pub async fn serves(&self, who: &Caller, customer: CustomerId) -> Result<bool, AppError> {
        serves(&mut *self.read().await?, who, customer).await
    }

    /// A ticket the caller may read (its messages too); "not found" otherwise.
    pub async fn readable_ticket(&self, who: &Caller, id: TicketId) -> Result<Ticket, AppError> {
        readable_ticket(&mut *self.read().await?, who, id).await
    }

    /// A ticket the caller may act on (reply, close, transfer, edit): "not found" when they
    /// cannot even read it, forbidden when they can read it but do not work on it.
    pub async fn workable_ticket(&self, who: &Caller, id: TicketId) -> Result<Ticket, AppError> {
        let t = self.readable_ticket(who, id).await?;
        if who.works_on(&t) {
            Ok(t)
        } else if t.status == TicketStatus::Closed {
            Err(AppError::Forbidden(
                "an earlier ticket of this customer is read-only".into(),
            ))
        } else {
            Err(AppError::Forbidden("the ticket is another agent's".into()))
        }
    }

    /// A message in a ticket the caller may read; "not found" otherwise.
    pub async fn readable_message(&self, who: &Caller, id: MessageId) -> Result<Message, AppError> {
        readable_message(&mut *self.read().await?, who, id).await
    }

    /// A customer the caller may see (one they serve); "not found" otherwise.
    pub async fn readable_customer(
        &self,
        who: &Caller,
        id: CustomerId,
    ) -> Result<Customer, AppError> {
        let not_found = || AppError::NotFound {
            entity: "customer",
            id: id.0,
        };
        let mut c = self.read().await?;
        let cu = db::customers::by_id(&mut c, id)
            .await?
            .ok_or_else(not_found)?;
        if serves(&mut c, who, id).await? {
            Ok(cu)
        } else {
            Err(not_found())
        }
    }

    /// The media with this content address if the caller may read it: an admin any; anyone
    /// else only if a message carrying it is in a ticket they may read (the rule of
    /// `GET /api/media/{sha256}`, also applied to sending with `media_sha256`). `None` when it
    /// does not exist or they may not read it: the two are not told apart.
    pub async fn readable_media(
        &self,
        who: &Caller,
        sha: &str,
    ) -> Result<Option<ReadableMedia>, AppError> {
        let sha = sha.to_ascii_lowercase();
        if !is_sha256(&sha) {
            return Ok(None);
        }
        let mut c = self.read().await?;
        let Some(stored) = db::media::mime(&mut c, &sha).await? else {
            return Ok(None);
        };
        let ticket = if who.admin {
            None
        } else {
            // Newest first: a file the pharmacy sent to many customers (a price list) is most
            // likely in a ticket the agent works now. Bounded, so a popular file costs little.
            let mut found = None;
            for t in db::media::tickets_carrying(&mut c, &sha, 50).await? {
                if readable_ticket(&mut c, who, t).await.is_ok() {
                    found = Some(t);
                    break;
                }
            }
            match found {
                Some(t) => Some(t),
                None => return Ok(None),
            }
        };
        let name = db::media::file_name(&mut c, &sha, ticket).await?;
        Ok(Some(ReadableMedia {
            sha256: sha,
            mime: mime::normalise(&stored),
            name,
        }))
    }

    /// Whether the service holds the file with this content address (lowercase hex): its row
    /// and its bytes.
    pub async fn holds_media(&self, sha: &str) -> Result<bool, AppError> {
        if !is_sha256(sha) {
            return Ok(false);
        }
        let row = db::media::mime(&mut *self.read().await?, sha).await?;
        Ok(row.is_some() && tokio::fs::metadata(self.media_path(sha)).await.is_ok())
    }
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}
