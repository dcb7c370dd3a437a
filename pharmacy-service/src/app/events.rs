//! Live events for the agents' browsers: typed, sequence-numbered, replayable after a
//! reconnect. Each envelope names the ticket, agent and branch it concerns so the HTTP layer
//! can show every connection only what its user may see.
//!
//! Only lasting changes go through the bus. Ephemeral notices (typing, viewing) are the HTTP
//! layer's (`http::ws`): in the replay ring a burst of them would push real events out, and
//! every client resuming after it would have to reload.

use crate::db::activity::Alert;
use crate::db::customers::Customer;
use crate::db::labels::Label;
use crate::db::messages::Message;
use crate::db::tickets::Ticket;
use crate::domain::ids::{AgentId, BranchId, MessageId, TicketId};
use crate::domain::routing::AgentStatus;
use crate::domain::time::Timestamp;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Mutex;
use tokio::sync::broadcast;

/// What happened (camelCase `type` tags, as the browser expects).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "camelCase")]
// Events are short-lived and cloned per subscriber; boxing the rows would only add noise.
#[allow(clippy::large_enum_variant)]
pub enum LiveEvent {
    /// A message was stored (incoming, or an outgoing one queued).
    NewMessage {
        /// The message.
        message: Message,
        /// Its ticket as it is now.
        ticket: Ticket,
    },
    /// An outgoing message left for WhatsApp.
    MessageSent {
        /// The message.
        message_id: MessageId,
        /// Its ticket.
        ticket_id: TicketId,
    },
    /// The customer's phone received it.
    MessageDelivered {
        /// The message.
        message_id: MessageId,
        /// Its ticket.
        ticket_id: TicketId,
    },
    /// The customer read it.
    MessageRead {
        /// The message.
        message_id: MessageId,
        /// Its ticket.
        ticket_id: TicketId,
    },
    /// Sending failed for good.
    MessageFailed {
        /// The message.
        message_id: MessageId,
        /// Its ticket.
        ticket_id: TicketId,
        /// Why.
        error: String,
    },
    /// A message was edited, revoked, reacted to, held or released.
    MessageUpdated {
        /// The message as it is now.
        message: Message,
    },
    /// A ticket got a new agent (or went to the queue).
    TicketAssigned {
        /// The ticket as it is now.
        ticket: Ticket,
        /// The previous agent.
        previous_agent: Option<AgentId>,
        /// Why (`sticky`, `branch:home`, `transfer`, ...).
        reason: String,
    },
    /// A ticket's status or details changed.
    TicketUpdated {
        /// The ticket as it is now.
        ticket: Ticket,
    },
    /// A ticket's labels changed.
    TicketLabels {
        /// The ticket.
        ticket: Ticket,
        /// Its labels now, by name.
        labels: Vec<Label>,
    },
    /// A ticket was closed.
    TicketClosed {
        /// The ticket as it is now.
        ticket: Ticket,
    },
    /// A customer wrote for the first time.
    NewCustomer {
        /// The customer.
        customer: Customer,
    },
    /// An agent's presence changed.
    AgentStatus {
        /// The agent.
        agent_id: AgentId,
        /// Their branch.
        branch_id: Option<BranchId>,
        /// New presence.
        status: AgentStatus,
    },
    /// Something needs an admin (delay, temporary ban, held mass send, failed send).
    AdminAlert {
        /// The alert.
        alert: Alert,
    },
    /// The WhatsApp link changed state (the bridge publishes these).
    WhatsappStatus {
        /// `connected`, `qr`, `logged_out`, `temporary_ban`, `outdated`, `paused`, `resumed`,
        /// `store_failed` (an inbound message the database refused; WhatsApp delivers it again),
        /// `store_recovered` (the first one stored after that). Agents get the state alone, as
        /// `whatsappLink` (`http::ws`).
        state: String,
        /// What the link says more about the state (the QR string, a ban's code and end...).
        detail: Option<super::LinkDetail>,
    },
}

impl LiveEvent {
    /// The ticket, agent and branch the event concerns, and whether only admins may see it.
    pub fn scope(&self) -> (Option<TicketId>, Option<AgentId>, Option<BranchId>, bool) {
        match self {
            LiveEvent::NewMessage { ticket, .. }
            | LiveEvent::TicketUpdated { ticket }
            | LiveEvent::TicketClosed { ticket }
            | LiveEvent::TicketLabels { ticket, .. }
            | LiveEvent::TicketAssigned { ticket, .. } => {
                (Some(ticket.id), ticket.agent_id, ticket.branch_id, false)
            }
            LiveEvent::MessageSent { ticket_id, .. }
            | LiveEvent::MessageDelivered { ticket_id, .. }
            | LiveEvent::MessageRead { ticket_id, .. }
            | LiveEvent::MessageFailed { ticket_id, .. } => (Some(*ticket_id), None, None, false),
            LiveEvent::MessageUpdated { message } => (Some(message.ticket_id), None, None, false),
            LiveEvent::NewCustomer { .. } => (None, None, None, false),
            LiveEvent::AgentStatus {
                agent_id,
                branch_id,
                ..
            } => (None, Some(*agent_id), *branch_id, false),
            LiveEvent::AdminAlert { .. } | LiveEvent::WhatsappStatus { .. } => {
                (None, None, None, true)
            }
        }
    }
}

/// An event with its sequence number and scope.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Envelope {
    /// Strictly increasing from 1 for the life of the process.
    pub seq: u64,
    /// When it was published.
    pub at: Timestamp,
    /// The ticket it concerns.
    pub ticket_id: Option<TicketId>,
    /// The agent it concerns (the ticket's assignee for ticket events).
    pub agent_id: Option<AgentId>,
    /// The branch it concerns.
    pub branch_id: Option<BranchId>,
    /// Only admins see it.
    pub admin_only: bool,
    /// The event.
    pub event: LiveEvent,
}

/// A broadcast channel plus a ring of recent envelopes for resuming after a reconnect.
pub struct EventBus {
    tx: broadcast::Sender<Envelope>,
    ring: Mutex<(u64, VecDeque<Envelope>)>,
    capacity: usize,
}

impl EventBus {
    /// A bus keeping the last `capacity` envelopes.
    pub fn new(capacity: usize) -> EventBus {
        let (tx, _) = broadcast::channel(capacity.max(16));
        EventBus {
            tx,
            ring: Mutex::new((0, VecDeque::with_capacity(capacity))),
            capacity,
        }
    }

    /// Publishes (sequence numbers are assigned under the lock so ring and channel agree).
    pub fn publish(&self, at: Timestamp, event: LiveEvent) -> u64 {
        let (ticket_id, agent_id, branch_id, admin_only) = event.scope();
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        ring.0 += 1;
        let env = Envelope {
            seq: ring.0,
            at,
            ticket_id,
            agent_id,
            branch_id,
            admin_only,
            event,
        };
        if ring.1.len() == self.capacity {
            ring.1.pop_front();
        }
        ring.1.push_back(env.clone());
        // No subscriber is fine: nobody is watching.
        let _ = self.tx.send(env);
        ring.0
    }

    /// A live subscription.
    pub fn subscribe(&self) -> broadcast::Receiver<Envelope> {
        self.tx.subscribe()
    }

    /// Envelopes after `seq` still in the ring, and whether the ring still reaches back that far
    /// (false: the client missed too much and should reload).
    pub fn since(&self, seq: u64) -> (Vec<Envelope>, bool) {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let complete = ring.1.front().is_none_or(|f| f.seq <= seq + 1) || seq >= ring.0;
        (
            ring.1.iter().filter(|e| e.seq > seq).cloned().collect(),
            complete,
        )
    }

    /// The last sequence number published.
    pub fn last_seq(&self) -> u64 {
        self.ring.lock().unwrap_or_else(|e| e.into_inner()).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(i: i64) -> LiveEvent {
        LiveEvent::AgentStatus {
            agent_id: AgentId(i),
            branch_id: None,
            status: AgentStatus::Online,
        }
    }

    #[test]
    fn resume_after_reconnect() {
        let bus = EventBus::new(3);
        let mut rx = bus.subscribe();
        for i in 1..=5 {
            assert_eq!(bus.publish(Timestamp(i), status(i)), i as u64);
        }
        assert_eq!(rx.try_recv().unwrap().seq, 1);
        let (missed, complete) = bus.since(3);
        assert_eq!(missed.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![4, 5]);
        assert!(complete);
        let (_, complete) = bus.since(1);
        assert!(!complete, "seq 2 fell out of the ring");
        let json = serde_json::to_value(&missed[0]).unwrap();
        assert_eq!(json["event"]["type"], "agentStatus");
    }
}
