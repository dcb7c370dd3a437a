//! The ticket lifecycle as an explicit state machine: open -> pending -> closed, with reopen.

use super::ids::UserId;
use super::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Where a ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    /// The pharmacy owes the customer an answer or action.
    Open,
    /// Waiting on the customer (an agent put it there); the customer's next message reopens it.
    Pending,
    /// Finished.
    Closed,
}

impl TicketStatus {
    /// The database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Open => "open",
            TicketStatus::Pending => "pending",
            TicketStatus::Closed => "closed",
        }
    }

    /// Parses the database spelling.
    pub fn parse(s: &str) -> Option<TicketStatus> {
        match s {
            "open" => Some(TicketStatus::Open),
            "pending" => Some(TicketStatus::Pending),
            "closed" => Some(TicketStatus::Closed),
            _ => None,
        }
    }
}

/// Ticket priority.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Low.
    Low,
    /// The default.
    Normal,
    /// High.
    High,
    /// Urgent (e.g. a prescription question).
    Urgent,
}

impl Priority {
    /// The database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }

    /// Parses the database spelling.
    pub fn parse(s: &str) -> Option<Priority> {
        match s {
            "low" => Some(Priority::Low),
            "normal" => Some(Priority::Normal),
            "high" => Some(Priority::High),
            "urgent" => Some(Priority::Urgent),
            _ => None,
        }
    }
}

/// Who caused a transition (logged with every transition).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "user_id", rename_all = "snake_case")]
pub enum Actor {
    /// The customer, by writing.
    Customer,
    /// An agent.
    Agent(UserId),
    /// An admin.
    Admin(UserId),
    /// The service itself (auto-close, routing).
    System,
}

impl Actor {
    /// The database spelling of the actor kind.
    pub fn kind_str(self) -> &'static str {
        match self {
            Actor::Customer => "customer",
            Actor::Agent(_) => "agent",
            Actor::Admin(_) => "admin",
            Actor::System => "system",
        }
    }

    /// The acting user, if a person.
    pub fn user(self) -> Option<UserId> {
        match self {
            Actor::Agent(u) | Actor::Admin(u) => Some(u),
            _ => None,
        }
    }
}

/// What someone asks of a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketCommand {
    /// The customer sent a message.
    CustomerWrote,
    /// Put the ticket on hold, waiting on the customer.
    AwaitCustomer,
    /// Take a pending ticket back to open without a customer message.
    Resume,
    /// Close it.
    Close,
    /// Reopen a closed ticket.
    Reopen,
}

/// A refused transition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {command:?} a {from:?} ticket as {actor}")]
pub struct TransitionError {
    /// The state the ticket was in.
    pub from: TicketStatus,
    /// What was asked.
    pub command: TicketCommand,
    /// Who asked (actor kind).
    pub actor: &'static str,
}

/// The state machine: the new status, or `Ok(None)` when the command changes nothing (a customer
/// writing into an open ticket), or an error when the command is not allowed.
///
/// | from    | command       | by                    | to      |
/// |---------|---------------|-----------------------|---------|
/// | open    | CustomerWrote | customer              | (same)  |
/// | pending | CustomerWrote | customer              | open    |
/// | closed  | CustomerWrote | customer              | error: the caller decides reopen-or-new with [`inbound_decision`] |
/// | open    | AwaitCustomer | agent, admin          | pending |
/// | pending | Resume        | agent, admin          | open    |
/// | open, pending | Close   | agent, admin, system  | closed  |
/// | closed  | Reopen        | customer, agent, admin| open    |
pub fn transition(
    from: TicketStatus,
    command: TicketCommand,
    actor: Actor,
) -> Result<Option<TicketStatus>, TransitionError> {
    use TicketCommand as C;
    use TicketStatus as S;
    let person = matches!(actor, Actor::Agent(_) | Actor::Admin(_));
    let ok = match (from, command) {
        (S::Open, C::CustomerWrote) if actor == Actor::Customer => return Ok(None),
        (S::Pending, C::CustomerWrote) if actor == Actor::Customer => Some(S::Open),
        (S::Open, C::AwaitCustomer) if person => Some(S::Pending),
        (S::Pending, C::AwaitCustomer) if person => return Ok(None),
        (S::Pending, C::Resume) if person => Some(S::Open),
        (S::Open | S::Pending, C::Close) if actor != Actor::Customer => Some(S::Closed),
        (S::Closed, C::Reopen) if actor != Actor::System => Some(S::Open),
        _ => None,
    };
    ok.map(Some).ok_or(TransitionError {
        from,
        command,
        actor: actor.kind_str(),
    })
}

/// What an inbound customer message does to the customer's latest ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundDecision {
    /// Append to the open or pending ticket (pending goes back to open).
    Continue,
    /// Reopen the closed ticket: the customer wrote within the reopen window.
    Reopen,
    /// Start a new ticket.
    Create,
}

/// Decides between continuing, reopening and creating, given the customer's latest ticket
/// (`None` if they have none): a closed ticket is reopened only when the message arrives within
/// `reopen_window` of its closing.
pub fn inbound_decision(
    latest: Option<(TicketStatus, Option<Timestamp>)>,
    now: Timestamp,
    reopen_window: Duration,
) -> InboundDecision {
    match latest {
        None => InboundDecision::Create,
        Some((TicketStatus::Open | TicketStatus::Pending, _)) => InboundDecision::Continue,
        Some((TicketStatus::Closed, Some(closed_at)))
            if now >= closed_at && now.since(closed_at) <= reopen_window =>
        {
            InboundDecision::Reopen
        }
        Some((TicketStatus::Closed, _)) => InboundDecision::Create,
    }
}

/// Whether a ticket should be closed for inactivity: open or pending with no activity for
/// `after`. A zero `after` disables auto-close.
pub fn due_for_auto_close(
    status: TicketStatus,
    last_activity_at: Timestamp,
    now: Timestamp,
    after: Duration,
) -> bool {
    !after.is_zero() && status != TicketStatus::Closed && now.since(last_activity_at) >= after
}

#[cfg(test)]
mod tests {
    use super::*;
    use Actor::*;
    use TicketCommand as C;
    use TicketStatus as S;

    const AGENT: Actor = Agent(UserId(2));
    const ADMIN: Actor = Admin(UserId(1));

    type Row = (S, C, Actor, Result<Option<S>, ()>);

    #[test]
    fn transition_table() {
        let cases: &[Row] = &[
            (S::Open, C::CustomerWrote, Customer, Ok(None)),
            (S::Pending, C::CustomerWrote, Customer, Ok(Some(S::Open))),
            (S::Closed, C::CustomerWrote, Customer, Err(())),
            (S::Open, C::CustomerWrote, AGENT, Err(())),
            (S::Open, C::AwaitCustomer, AGENT, Ok(Some(S::Pending))),
            (S::Open, C::AwaitCustomer, ADMIN, Ok(Some(S::Pending))),
            (S::Open, C::AwaitCustomer, System, Err(())),
            (S::Open, C::AwaitCustomer, Customer, Err(())),
            (S::Pending, C::AwaitCustomer, AGENT, Ok(None)),
            (S::Closed, C::AwaitCustomer, AGENT, Err(())),
            (S::Pending, C::Resume, AGENT, Ok(Some(S::Open))),
            (S::Open, C::Resume, AGENT, Err(())),
            (S::Open, C::Close, AGENT, Ok(Some(S::Closed))),
            (S::Pending, C::Close, ADMIN, Ok(Some(S::Closed))),
            (S::Pending, C::Close, System, Ok(Some(S::Closed))),
            (S::Open, C::Close, Customer, Err(())),
            (S::Closed, C::Close, ADMIN, Err(())),
            (S::Closed, C::Reopen, Customer, Ok(Some(S::Open))),
            (S::Closed, C::Reopen, AGENT, Ok(Some(S::Open))),
            (S::Closed, C::Reopen, System, Err(())),
            (S::Open, C::Reopen, ADMIN, Err(())),
        ];
        for (i, (from, cmd, actor, want)) in cases.iter().enumerate() {
            let got = transition(*from, *cmd, *actor).map_err(|_| ());
            assert_eq!(&got, want, "case {i}: {from:?} {cmd:?} {actor:?}");
        }
    }

    #[test]
    fn inbound_decisions() {
        let w = Duration::from_secs(3600);
        let t = Timestamp(10_000_000);
        let cases = [
            (None, InboundDecision::Create),
            (Some((S::Open, None)), InboundDecision::Continue),
            (Some((S::Pending, None)), InboundDecision::Continue),
            (Some((S::Closed, Some(t.minus(w)))), InboundDecision::Reopen),
            (
                Some((S::Closed, Some(t.minus(Duration::from_secs(60))))),
                InboundDecision::Reopen,
            ),
            (
                Some((S::Closed, Some(t.minus(w).minus(Duration::from_millis(1))))),
                InboundDecision::Create,
            ),
            (Some((S::Closed, None)), InboundDecision::Create),
        ];
        for (i, (latest, want)) in cases.into_iter().enumerate() {
            assert_eq!(inbound_decision(latest, t, w), want, "case {i}");
        }
        assert_eq!(
            inbound_decision(Some((S::Closed, Some(t))), t, Duration::ZERO),
            InboundDecision::Reopen
        );
    }

    #[test]
    fn auto_close() {
        let day = Duration::from_secs(86_400);
        let t0 = Timestamp(0);
        assert!(due_for_auto_close(S::Open, t0, t0.plus(day * 3), day * 3));
        assert!(due_for_auto_close(
            S::Pending,
            t0,
            t0.plus(day * 4),
            day * 3
        ));
        assert!(!due_for_auto_close(S::Open, t0, t0.plus(day * 2), day * 3));
        assert!(!due_for_auto_close(
            S::Closed,
            t0,
            t0.plus(day * 9),
            day * 3
        ));
        assert!(!due_for_auto_close(
            S::Open,
            t0,
            t0.plus(day * 9),
            Duration::ZERO
        ));
    }
}
