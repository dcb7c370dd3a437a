//! What a caller reads and marks in the inbox and the chat window, with the access rules of
//! [`super::access`] applied: the inbox list with previews and unread counts, read marks, a
//! ticket's notes, a message with its delivery log, older pages of a chat, and asking again
//! for an attachment whose download failed.

use super::access::{Caller, readable_message, readable_ticket, serves};
use super::{App, AppError, LiveEvent};
use crate::db;
use crate::db::customers::Customer;
use crate::db::messages::{DeliveryLogEntry, Message, SearchScope};
use crate::db::tickets::{NoteEntry, Ticket, TicketFilter};
use crate::domain::ids::{LabelId, MessageId, TicketId};
use crate::domain::time::Timestamp;
use serde::Serialize;

/// One row of the inbox list.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct InboxItem {
    /// The ticket.
    pub ticket: Ticket,
    /// Its customer.
    pub customer: Customer,
    /// The newest message (the preview); null for a ticket without messages.
    #[schema(required = true)]
    pub last_message: Option<Message>,
    /// The customer's messages the caller has not read.
    pub unread: i64,
    /// The ticket's labels (ids of `GET /api/labels`, archived ones included).
    pub labels: Vec<LabelId>,
}

/// How far the caller has read a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReadMark {
    /// The ticket.
    pub ticket_id: TicketId,
    /// The newest message the caller has read (0: none yet).
    pub last_read_message_id: i64,
    /// The customer's messages after it.
    pub unread: i64,
}

/// One message with its delivery log.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MessageDetail {
    /// The message.
    pub message: Message,
    /// Its delivery steps, oldest first.
    pub delivery_log: Vec<DeliveryLogEntry>,
}

impl App {
    /// The inbox, newest activity first, as the caller may see it: agents the tickets
    /// assigned to them and their branch's unassigned queue, or the whole history of a
    /// customer they serve (`filter.customer_id`); admins everything. The cursor is the last
    /// row's `(last_activity_at, id)`.
    pub async fn inbox(
        &self,
        who: &Caller,
        mut filter: TicketFilter,
        text: Option<&str>,
        after: Option<(Timestamp, TicketId)>,
        limit: i64,
    ) -> Result<Vec<InboxItem>, AppError> {
        if !who.admin {
            let history = match filter.customer_id {
                Some(cu) => serves(&mut *self.read().await?, who, cu).await?,
                None => false,
            };
            if !history {
                let Some(agent) = who.agent_id else {
                    return Ok(Vec::new());
                };
                filter.visible_to_agent = Some((agent, who.branch_id));
            }
        }
        let rows = self.list_tickets(filter, text, after, limit).await?;
        let mut c = self.read().await?;
        let ids: Vec<TicketId> = rows.iter().map(|r| r.ticket.id).collect();
        let labelled = db::labels::ids_of_tickets(&mut c, &ids).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let labels = labelled
                .iter()
                .filter(|(t, _)| *t == r.ticket.id)
                .map(|(_, l)| *l)
                .collect();
            out.push(InboxItem {
                labels,
                last_message: db::reads::last_message(&mut c, r.ticket.id).await?,
                unread: db::reads::unread(&mut c, who.user_id, r.ticket.id).await?,
                ticket: r.ticket,
                customer: r.customer,
            });
        }
        Ok(out)
    }

    /// Marks the ticket read by the caller up to `upto` (default: its newest message); the
    /// mark only moves forward. The check and the write are one transaction.
    pub async fn mark_read(
        &self,
        who: &Caller,
        ticket: TicketId,
        upto: Option<MessageId>,
    ) -> Result<ReadMark, AppError> {
        let mut tx = self.begin().await?;
        readable_ticket(&mut tx, who, ticket).await?;
        let last = db::reads::mark_read(&mut tx, who.user_id, ticket, upto, self.now()).await?;
        let unread = db::reads::unread(&mut tx, who.user_id, ticket).await?;
        tx.commit().await?;
        Ok(ReadMark {
            ticket_id: ticket,
            last_read_message_id: last,
            unread,
        })
    }

    /// A ticket's internal notes, oldest first, with their authors' names.
    pub async fn ticket_notes(
        &self,
        who: &Caller,
        ticket: TicketId,
    ) -> Result<Vec<NoteEntry>, AppError> {
        let mut c = self.read().await?;
        readable_ticket(&mut c, who, ticket).await?;
        Ok(db::tickets::notes_with_authors(&mut c, ticket).await?)
    }

    /// A message the caller may read, with its delivery log.
    pub async fn message_detail(
        &self,
        who: &Caller,
        id: MessageId,
    ) -> Result<MessageDetail, AppError> {
        let message = self.readable_message(who, id).await?;
        let delivery_log = db::messages::delivery_log(&mut *self.read().await?, id).await?;
        Ok(MessageDetail {
            message,
            delivery_log,
        })
    }

    /// Full-text message search over the messages the caller may read, newest first. An
    /// agent's visibility is a subquery in the search itself: binding every visible ticket id
    /// hit SQLite's parameter limit for an agent with a long history.
    pub async fn search_visible_messages(
        &self,
        who: &Caller,
        query: &str,
        limit: i64,
    ) -> Result<Vec<Message>, AppError> {
        let scope = if who.admin {
            SearchScope::All
        } else {
            match who.agent_id {
                Some(agent) => SearchScope::Agent(agent, who.branch_id),
                None => return Ok(Vec::new()),
            }
        };
        self.search_messages_in(query, scope, limit).await
    }

    /// A ticket's newest messages older than `before` (`None`: the newest of all), oldest
    /// first.
    pub async fn ticket_messages_before(
        &self,
        id: TicketId,
        before: Option<MessageId>,
        limit: i64,
    ) -> Result<Vec<Message>, AppError> {
        let mut c = self.read().await?;
        Ok(db::messages::for_ticket_before(&mut c, id, before, limit.clamp(1, 1000)).await?)
    }

    /// Starts a failed attachment download over (anyone who may read the ticket may ask): the
    /// message is `downloading` again and the media worker tries at once. Conflict when the
    /// attachment is not failed.
    pub async fn retry_media_download(
        &self,
        who: &Caller,
        id: MessageId,
    ) -> Result<Message, AppError> {
        let mut tx = self.begin().await?;
        readable_message(&mut tx, who, id).await?;
        if !db::media_downloads::retry(&mut tx, id, self.now()).await? {
            return Err(AppError::Conflict(
                "only an attachment that could not be downloaded can be retried".into(),
            ));
        }
        let message = readable_message(&mut tx, who, id).await?;
        tx.commit().await?;
        self.wake_media_worker();
        self.publish_all(vec![LiveEvent::MessageUpdated {
            message: message.clone(),
        }]);
        Ok(message)
    }
}
