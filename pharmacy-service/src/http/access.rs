//! Who may see what, checked on every object (issue 10, Security): an admin sees everything;
//! an agent sees the tickets assigned to them and their branch's unassigned queue, the earlier
//! tickets and ratings of the customers they are serving, and the directory of agents and
//! branches; nothing else. Invisible objects answer 404, as if they did not exist.

use super::auth::CurrentUser;
use super::error::{ApiError, ApiResult};
use crate::db::Conn;
use crate::db::tickets::Ticket;
use crate::domain::ids::{CustomerId, TicketId};
use crate::domain::ticket::TicketStatus;

/// Whether the agent works this ticket: assigned to them, or unassigned in their branch's
/// queue (or in no branch yet). Admins: always.
pub fn works_on(me: &CurrentUser, t: &Ticket) -> bool {
    if me.is_admin() {
        return true;
    }
    let Some(agent) = me.agent_id else {
        return false;
    };
    t.agent_id == Some(agent)
        || (t.agent_id.is_none() && (t.branch_id.is_none() || t.branch_id == me.branch_id))
}

/// Whether the agent is serving this customer now: one of the customer's tickets that is not
/// closed is assigned to them (the same rule as `db::tickets::VISIBLE_TO_AGENT`; a queue
/// ticket's customer becomes theirs when they claim it).
pub async fn serves(c: &mut Conn, me: &CurrentUser, customer: CustomerId) -> ApiResult<bool> {
    if me.is_admin() {
        return Ok(true);
    }
    let Some(agent) = me.agent_id else {
        return Ok(false);
    };
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tickets WHERE customer_id = ? AND status <> 'closed' AND agent_id = ?",
    )
    .bind(customer)
    .bind(agent)
    .fetch_one(&mut *c)
    .await?;
    Ok(n > 0)
}

/// Whether the caller may read the ticket (its messages too): they work on it, or it is an
/// earlier ticket of a customer they serve.
pub async fn can_read_ticket(c: &mut Conn, me: &CurrentUser, t: &Ticket) -> ApiResult<bool> {
    Ok(works_on(me, t) || serves(c, me, t.customer_id).await?)
}

/// Loads a ticket the caller may read (404 otherwise).
pub async fn readable_ticket(c: &mut Conn, me: &CurrentUser, id: TicketId) -> ApiResult<Ticket> {
    let t = crate::db::tickets::by_id(c, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("ticket {id}")))?;
    if can_read_ticket(c, me, &t).await? {
        Ok(t)
    } else {
        Err(ApiError::not_found(format!("ticket {id}")))
    }
}

/// Loads a ticket the caller may act on (reply, close, transfer, edit): 404 when they cannot
/// even read it, 403 when they can read it but do not work on it.
pub async fn workable_ticket(c: &mut Conn, me: &CurrentUser, id: TicketId) -> ApiResult<Ticket> {
    let t = readable_ticket(c, me, id).await?;
    if works_on(me, &t) {
        Ok(t)
    } else if t.status == TicketStatus::Closed {
        Err(ApiError::Forbidden(
            "an earlier ticket of this customer is read-only".into(),
        ))
    } else {
        Err(ApiError::Forbidden("the ticket is another agent's".into()))
    }
}

/// Loads a customer the caller may see (404 otherwise).
pub async fn readable_customer(
    c: &mut Conn,
    me: &CurrentUser,
    id: CustomerId,
) -> ApiResult<crate::db::customers::Customer> {
    let cu = crate::db::customers::by_id(c, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("customer {id}")))?;
    if serves(c, me, id).await? {
        Ok(cu)
    } else {
        Err(ApiError::not_found(format!("customer {id}")))
    }
}
