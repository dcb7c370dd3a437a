//! Read-side use-cases for the inbox, the chat window and search.

use super::{App, AppError, not_found};
use crate::db;
use crate::db::customers::Customer;
use crate::db::labels::Label;
use crate::db::messages::{Message, SearchScope};
use crate::db::tickets::{StateLogEntry, Ticket, TicketFilter, TransferLogEntry};
use crate::domain::ids::{MessageId, TicketId};
use crate::domain::search::fts_query;
use crate::domain::time::Timestamp;
use serde::Serialize;

/// A ticket with its customer, for the inbox list.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TicketSummary {
    /// The ticket.
    pub ticket: Ticket,
    /// Its customer.
    pub customer: Customer,
}

/// A ticket with everything the chat window shows.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TicketDetail {
    /// The ticket.
    pub ticket: Ticket,
    /// Its customer.
    pub customer: Customer,
    /// Status history.
    pub state_log: Vec<StateLogEntry>,
    /// Assignment history.
    pub transfer_log: Vec<TransferLogEntry>,
    /// Its labels, by name.
    pub labels: Vec<Label>,
}

impl App {
    /// Tickets by last activity, newest first. `filter.customer_fts` may be given as free text
    /// in `text` (normalised here). The cursor is the last row's `(last_activity_at, id)`.
    pub async fn list_tickets(
        &self,
        mut filter: TicketFilter,
        text: Option<&str>,
        after: Option<(Timestamp, TicketId)>,
        limit: i64,
    ) -> Result<Vec<TicketSummary>, AppError> {
        if let Some(t) = text {
            filter.customer_fts = fts_query(t);
        }
        let mut c = self.read().await?;
        let tickets = db::tickets::list(&mut c, &filter, after, limit.clamp(1, 500)).await?;
        let mut out = Vec::with_capacity(tickets.len());
        for t in tickets {
            let customer = db::customers::by_id(&mut c, t.customer_id)
                .await?
                .ok_or_else(|| not_found("customer", t.customer_id.0))?;
            out.push(TicketSummary {
                ticket: t,
                customer,
            });
        }
        Ok(out)
    }

    /// One ticket with its customer and logs.
    pub async fn ticket_detail(&self, id: TicketId) -> Result<TicketDetail, AppError> {
        let mut c = self.read().await?;
        let ticket = db::tickets::by_id(&mut c, id)
            .await?
            .ok_or_else(|| not_found("ticket", id.0))?;
        let customer = db::customers::by_id(&mut c, ticket.customer_id)
            .await?
            .ok_or_else(|| not_found("customer", ticket.customer_id.0))?;
        let state_log = db::tickets::state_log(&mut c, id).await?;
        let transfer_log = db::tickets::transfer_log(&mut c, id).await?;
        let labels = db::labels::of_ticket(&mut c, id).await?;
        Ok(TicketDetail {
            ticket,
            customer,
            state_log,
            transfer_log,
            labels,
        })
    }

    /// A ticket's messages, oldest first, after the cursor.
    pub async fn ticket_messages(
        &self,
        id: TicketId,
        after: Option<MessageId>,
        limit: i64,
    ) -> Result<Vec<Message>, AppError> {
        let mut c = self.read().await?;
        Ok(db::messages::for_ticket(&mut c, id, after, limit.clamp(1, 1000)).await?)
    }

    /// Full-text message search with Arabic normalisation, newest first; `tickets` limits it
    /// to those tickets (None = all, for admins). See [`App::search_messages_in`] for the
    /// agent-visibility scope done in SQL.
    pub async fn search_messages(
        &self,
        query: &str,
        tickets: Option<&[TicketId]>,
        limit: i64,
    ) -> Result<Vec<Message>, AppError> {
        let scope = tickets.map_or(SearchScope::All, SearchScope::Tickets);
        self.search_messages_in(query, scope, limit).await
    }

    /// Full-text message search with Arabic normalisation, newest first, within `scope`
    /// (admins: `SearchScope::All`; agents: `SearchScope::Agent`).
    pub async fn search_messages_in(
        &self,
        query: &str,
        scope: SearchScope<'_>,
        limit: i64,
    ) -> Result<Vec<Message>, AppError> {
        let Some(fts) = fts_query(query) else {
            return Ok(Vec::new());
        };
        let mut c = self.read().await?;
        Ok(db::messages::search(&mut c, &fts, scope, limit.clamp(1, 500)).await?)
    }

    /// Whether an agent may see a ticket: assigned to them, in their branch's unassigned queue,
    /// or of a customer they are serving now. Admins see everything (the caller checks roles).
    pub async fn agent_can_see(
        &self,
        agent: crate::domain::ids::AgentId,
        ticket: TicketId,
    ) -> Result<bool, AppError> {
        let mut c = self.read().await?;
        let Some(a) = db::agents::by_id(&mut c, agent).await? else {
            return Ok(false);
        };
        Ok(db::tickets::visible_to_agent(&mut c, ticket, agent, a.branch_id).await?)
    }

    /// Full-text customer search (names, numbers in either spelling, e-mail).
    pub async fn search_customers(
        &self,
        query: &str,
        limit: i64,
    ) -> Result<Vec<Customer>, AppError> {
        let Some(fts) = fts_query(query) else {
            return Ok(Vec::new());
        };
        let mut c = self.read().await?;
        Ok(db::customers::search(&mut c, &fts, limit.clamp(1, 500)).await?)
    }
}
