//! Routing: which agent gets a ticket, as a pure function of the ticket, the customer, the
//! agents (status, load, capacity, shifts), the branches, the policy and `now`.
//!
//! The order, first match wins:
//! 1. **Sticky**: the customer's previous agent, if they served the customer within the
//!    stickiness window and are eligible now.
//! 2. **Branch**: the ticket's branch (already chosen by a transfer or the welcome menu), else the
//!    branch nearest the customer's shared location pin, else the customer's home branch; its
//!    least-loaded eligible agent.
//! 3. **Any online**: the least-loaded eligible agent of any branch.
//! 4. **Queue**: unassigned; [`assign_backlog`] hands the queue out oldest first when agents
//!    come online.
//!
//! *Eligible* = online, under capacity, on shift (if a roster is set), not excluded.
//! *Least loaded* = fewest open or pending tickets; ties go to the agent assigned least recently
//! (never assigned first), then the lower id: round-robin among equals.

use super::geo::{self, GeoPoint};
use super::ids::{AgentId, BranchId, TicketId};
use super::schedule::{WeeklyHours, on_shift};
use super::time::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// An agent's presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    /// Takes new tickets.
    Online,
    /// Keeps their tickets, takes no new ones.
    Away,
    /// Not working.
    Offline,
}

impl AgentStatus {
    /// The database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Online => "online",
            AgentStatus::Away => "away",
            AgentStatus::Offline => "offline",
        }
    }

    /// Parses the database spelling.
    pub fn parse(s: &str) -> Option<AgentStatus> {
        match s {
            "online" => Some(AgentStatus::Online),
            "away" => Some(AgentStatus::Away),
            "offline" => Some(AgentStatus::Offline),
            _ => None,
        }
    }
}

/// What routing needs to know about an agent.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSnapshot {
    /// The agent.
    pub id: AgentId,
    /// Their branch.
    pub branch: Option<BranchId>,
    /// Presence.
    pub status: AgentStatus,
    /// Open and pending tickets assigned now.
    pub open_tickets: u32,
    /// Maximum open and pending tickets.
    pub capacity: u32,
    /// Weekly roster; empty = no roster.
    pub shifts: WeeklyHours,
    /// When they were last given a ticket (round-robin order).
    pub last_assigned_at: Option<Timestamp>,
}

/// A branch as routing sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BranchSite {
    /// The branch.
    pub id: BranchId,
    /// Where it is.
    pub location: GeoPoint,
    /// Inactive branches are never chosen by location.
    pub active: bool,
}

/// What routing needs to know about the ticket.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoutingTicket {
    /// A branch already chosen for this ticket (transfer, welcome menu).
    pub branch: Option<BranchId>,
    /// Agents that must not get it (the agent who let it wait, on delay reassignment).
    pub exclude: Vec<AgentId>,
}

/// What routing needs to know about the customer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoutingCustomer {
    /// The agent who last served them, and when.
    pub previous_agent: Option<(AgentId, Timestamp)>,
    /// Their home branch.
    pub home_branch: Option<BranchId>,
    /// A location pin they shared in this conversation.
    pub location: Option<GeoPoint>,
}

/// Routing configuration.
#[derive(Debug, Clone)]
pub struct RoutingPolicy {
    /// How long after the last contact a returning customer goes back to the same agent.
    pub stickiness: Duration,
    /// The zone shifts are read in.
    pub time_zone: TimeZone,
    /// Whether rosters limit eligibility.
    pub use_shifts: bool,
    /// Whether a ticket may go to another branch's agent when its branch has nobody.
    pub cross_branch_fallback: bool,
}

/// How the branch was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BranchSource {
    /// Set on the ticket (transfer or menu).
    Ticket,
    /// Nearest to the shared location pin.
    Location,
    /// The customer's home branch.
    Home,
}

/// Why an agent was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "rule", content = "source")]
pub enum RouteReason {
    /// The customer's previous agent.
    Sticky,
    /// An agent of the chosen branch.
    Branch(BranchSource),
    /// Any online agent (the branch had nobody, or no branch was known).
    AnyOnline,
    /// Handed out from the unassigned queue.
    Backlog,
}

impl RouteReason {
    /// A short label for logs.
    pub fn label(self) -> &'static str {
        match self {
            RouteReason::Sticky => "sticky",
            RouteReason::Branch(BranchSource::Ticket) => "branch:ticket",
            RouteReason::Branch(BranchSource::Location) => "branch:location",
            RouteReason::Branch(BranchSource::Home) => "branch:home",
            RouteReason::AnyOnline => "any_online",
            RouteReason::Backlog => "backlog",
        }
    }
}

/// The routing decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignment {
    /// Give it to `agent`; the ticket's branch becomes `branch`.
    Agent {
        /// The chosen agent.
        agent: AgentId,
        /// The branch that now serves the ticket (the agent's, when they have one).
        branch: Option<BranchId>,
        /// Why.
        reason: RouteReason,
    },
    /// Nobody eligible: leave it in the unassigned queue, remembering the chosen branch.
    Queue {
        /// The branch the customer belongs to, if known.
        branch: Option<BranchId>,
    },
}

fn eligible(
    a: &AgentSnapshot,
    ticket: &RoutingTicket,
    policy: &RoutingPolicy,
    now: Timestamp,
) -> bool {
    a.status == AgentStatus::Online
        && a.open_tickets < a.capacity
        && !ticket.exclude.contains(&a.id)
        && (!policy.use_shifts || on_shift(&a.shifts, now.local(&policy.time_zone)))
}

fn least_loaded<'a>(
    candidates: impl Iterator<Item = &'a AgentSnapshot>,
) -> Option<&'a AgentSnapshot> {
    candidates.min_by_key(|a| (a.open_tickets, a.last_assigned_at, a.id))
}

/// The branch the ticket belongs to, and how that was decided.
pub fn choose_branch(
    ticket: &RoutingTicket,
    customer: &RoutingCustomer,
    branches: &[BranchSite],
) -> Option<(BranchId, BranchSource)> {
    if let Some(b) = ticket.branch {
        return Some((b, BranchSource::Ticket));
    }
    if let Some(pin) = customer.location {
        let sites: Vec<_> = branches
            .iter()
            .filter(|b| b.active)
            .map(|b| (b.id, b.location))
            .collect();
        if let Some(b) = geo::nearest(pin, &sites) {
            return Some((b, BranchSource::Location));
        }
    }
    customer.home_branch.map(|b| (b, BranchSource::Home))
}

/// Routes one ticket. See the module documentation for the rules.
pub fn route(
    ticket: &RoutingTicket,
    customer: &RoutingCustomer,
    agents: &[AgentSnapshot],
    branches: &[BranchSite],
    policy: &RoutingPolicy,
    now: Timestamp,
) -> Assignment {
    let ok = |a: &&AgentSnapshot| eligible(a, ticket, policy, now);
    if let Some((prev, at)) = customer.previous_agent
        && now.since(at) <= policy.stickiness
        && let Some(a) = agents.iter().filter(ok).find(|a| a.id == prev)
    {
        return Assignment::Agent {
            agent: a.id,
            branch: a.branch.or(ticket.branch),
            reason: RouteReason::Sticky,
        };
    }
    let chosen = choose_branch(ticket, customer, branches);
    if let Some((branch, source)) = chosen
        && let Some(a) = least_loaded(
            agents
                .iter()
                .filter(ok)
                .filter(|a| a.branch == Some(branch)),
        )
    {
        return Assignment::Agent {
            agent: a.id,
            branch: Some(branch),
            reason: RouteReason::Branch(source),
        };
    }
    if (chosen.is_none() || policy.cross_branch_fallback)
        && let Some(a) = least_loaded(agents.iter().filter(ok))
    {
        return Assignment::Agent {
            agent: a.id,
            branch: a.branch.or(chosen.map(|c| c.0)),
            reason: RouteReason::AnyOnline,
        };
    }
    Assignment::Queue {
        branch: chosen.map(|c| c.0),
    }
}

/// A ticket waiting in the unassigned queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedTicket {
    /// The ticket.
    pub id: TicketId,
    /// Since when it waits (oldest first).
    pub queued_since: Timestamp,
    /// Its routing facts.
    pub ticket: RoutingTicket,
    /// Its customer's routing facts.
    pub customer: RoutingCustomer,
}

/// Hands the unassigned queue out, oldest first, as agents come online. Each assignment counts
/// against the chosen agent's load before the next ticket is routed. Tickets that still find
/// nobody stay queued (absent from the result).
pub fn assign_backlog(
    queue: &[QueuedTicket],
    agents: &[AgentSnapshot],
    branches: &[BranchSite],
    policy: &RoutingPolicy,
    now: Timestamp,
) -> Vec<(TicketId, AgentId, Option<BranchId>)> {
    let mut agents = agents.to_vec();
    let mut order: Vec<&QueuedTicket> = queue.iter().collect();
    order.sort_by_key(|q| (q.queued_since, q.id));
    let mut out = Vec::new();
    for (k, q) in order.into_iter().enumerate() {
        if let Assignment::Agent { agent, branch, .. } =
            route(&q.ticket, &q.customer, &agents, branches, policy, now)
        {
            if let Some(a) = agents.iter_mut().find(|a| a.id == agent) {
                a.open_tickets += 1;
                // Strictly increasing stamps keep round-robin order within this one batch.
                a.last_assigned_at = Some(Timestamp(now.0 + k as i64));
            }
            out.push((q.id, agent, branch));
        }
    }
    out
}

/// Delay reassignment: another eligible agent for a ticket its agent left unanswered too long,
/// or `None` to keep it where it is (nobody else can take it).
pub fn reassign_on_delay(
    ticket: &RoutingTicket,
    customer: &RoutingCustomer,
    delayed: AgentId,
    agents: &[AgentSnapshot],
    branches: &[BranchSite],
    policy: &RoutingPolicy,
    now: Timestamp,
) -> Option<(AgentId, Option<BranchId>)> {
    let mut t = ticket.clone();
    t.exclude.push(delayed);
    let c = RoutingCustomer {
        previous_agent: None,
        ..customer.clone()
    };
    match route(&t, &c, agents, branches, policy, now) {
        Assignment::Agent { agent, branch, .. } => Some((agent, branch)),
        Assignment::Queue { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::schedule::Span;

    const MIN: i64 = 60_000;
    // 2026-11-25 10:00 in Cairo (UTC+2 in winter) = 08:00Z.
    const NOW: Timestamp = Timestamp(1_795_593_600_000);

    fn policy() -> RoutingPolicy {
        RoutingPolicy {
            stickiness: Duration::from_secs(7 * 86_400),
            time_zone: TimeZone::get("Africa/Cairo").unwrap(),
            use_shifts: true,
            cross_branch_fallback: true,
        }
    }

    fn agent(id: i64, branch: i64, status: AgentStatus, load: u32) -> AgentSnapshot {
        AgentSnapshot {
            id: AgentId(id),
            branch: Some(BranchId(branch)),
            status,
            open_tickets: load,
            capacity: 5,
            shifts: WeeklyHours::default(),
            last_assigned_at: None,
        }
    }

    use AgentStatus::{Away, Offline, Online};

    fn on(id: i64, branch: i64, load: u32) -> AgentSnapshot {
        agent(id, branch, Online, load)
    }

    fn with(mut a: AgentSnapshot, f: impl FnOnce(&mut AgentSnapshot)) -> AgentSnapshot {
        f(&mut a);
        a
    }

    fn branches() -> Vec<BranchSite> {
        vec![
            BranchSite {
                id: BranchId(1),
                location: GeoPoint {
                    lat: 31.040,
                    lon: 31.380,
                },
                active: true,
            },
            BranchSite {
                id: BranchId(2),
                location: GeoPoint {
                    lat: 31.060,
                    lon: 31.400,
                },
                active: true,
            },
            BranchSite {
                id: BranchId(3),
                location: GeoPoint {
                    lat: 31.020,
                    lon: 31.360,
                },
                active: false,
            },
        ]
    }

    fn prev(id: i64, minutes_ago: i64) -> Option<(AgentId, Timestamp)> {
        Some((AgentId(id), Timestamp(NOW.0 - minutes_ago * MIN)))
    }

    fn to(agent: i64, branch: i64, reason: RouteReason) -> Assignment {
        Assignment::Agent {
            agent: AgentId(agent),
            branch: Some(BranchId(branch)),
            reason,
        }
    }

    fn queue(branch: Option<i64>) -> Assignment {
        Assignment::Queue {
            branch: branch.map(BranchId),
        }
    }

    struct Case {
        name: &'static str,
        ticket: RoutingTicket,
        customer: RoutingCustomer,
        agents: Vec<AgentSnapshot>,
        policy: RoutingPolicy,
        want: Assignment,
    }

    fn case(
        name: &'static str,
        customer: RoutingCustomer,
        agents: Vec<AgentSnapshot>,
        want: Assignment,
    ) -> Case {
        Case {
            name,
            ticket: RoutingTicket::default(),
            customer,
            agents,
            policy: policy(),
            want,
        }
    }

    fn home(b: i64) -> RoutingCustomer {
        RoutingCustomer {
            home_branch: Some(BranchId(b)),
            ..Default::default()
        }
    }

    fn shift_hours(start: u16, end: u16) -> WeeklyHours {
        WeeklyHours::every_day(&[Span {
            start: start * 60,
            end: end * 60,
        }])
    }

    #[test]
    fn routing_table() {
        use BranchSource::*;
        use RouteReason::*;
        let pin_near_2 = GeoPoint {
            lat: 31.059,
            lon: 31.399,
        };
        let pin_near_3 = GeoPoint {
            lat: 31.020,
            lon: 31.360,
        };
        let sticky = |id, mins| RoutingCustomer {
            previous_agent: prev(id, mins),
            home_branch: Some(BranchId(2)),
            location: None,
        };
        let cases = vec![
            // --- stickiness ---
            case(
                "sticky: previous agent online",
                sticky(1, 60),
                vec![on(1, 1, 0), on(2, 2, 0)],
                to(1, 1, Sticky),
            ),
            case(
                "sticky beats lighter home-branch agent",
                sticky(1, 60),
                vec![on(1, 1, 4), on(2, 2, 0)],
                to(1, 1, Sticky),
            ),
            case(
                "sticky at window edge",
                sticky(1, 7 * 24 * 60),
                vec![on(1, 1, 0), on(2, 2, 0)],
                to(1, 1, Sticky),
            ),
            case(
                "sticky expired -> home branch",
                sticky(1, 7 * 24 * 60 + 1),
                vec![on(1, 1, 0), on(2, 2, 0)],
                to(2, 2, Branch(Home)),
            ),
            case(
                "sticky agent offline -> home",
                sticky(1, 5),
                vec![agent(1, 1, Offline, 0), on(2, 2, 0)],
                to(2, 2, Branch(Home)),
            ),
            case(
                "sticky agent away -> home",
                sticky(1, 5),
                vec![agent(1, 1, Away, 0), on(2, 2, 0)],
                to(2, 2, Branch(Home)),
            ),
            case(
                "sticky agent at capacity -> home",
                sticky(1, 5),
                vec![on(1, 1, 5), on(2, 2, 0)],
                to(2, 2, Branch(Home)),
            ),
            case(
                "sticky agent off shift -> home",
                sticky(1, 5),
                vec![
                    with(on(1, 1, 0), |a| a.shifts = shift_hours(14, 22)),
                    on(2, 2, 0),
                ],
                to(2, 2, Branch(Home)),
            ),
            case(
                "sticky agent on shift",
                sticky(1, 5),
                vec![
                    with(on(1, 1, 0), |a| a.shifts = shift_hours(8, 16)),
                    on(2, 2, 0),
                ],
                to(1, 1, Sticky),
            ),
            case(
                "sticky agent deleted -> home",
                sticky(9, 5),
                vec![on(2, 2, 0)],
                to(2, 2, Branch(Home)),
            ),
            Case {
                policy: RoutingPolicy {
                    stickiness: Duration::ZERO,
                    ..policy()
                },
                ..case(
                    "stickiness disabled",
                    sticky(1, 1),
                    vec![on(1, 1, 0), on(2, 2, 0)],
                    to(2, 2, Branch(Home)),
                )
            },
            // --- capacity and load ---
            case(
                "home branch least loaded",
                home(2),
                vec![on(2, 2, 3), on(3, 2, 1), on(4, 2, 2)],
                to(3, 2, Branch(Home)),
            ),
            case(
                "home branch skips full agent",
                home(2),
                vec![on(2, 2, 5), on(3, 2, 4)],
                to(3, 2, Branch(Home)),
            ),
            case(
                "zero capacity never assigned",
                home(2),
                vec![with(on(2, 2, 0), |a| a.capacity = 0), on(1, 1, 3)],
                to(1, 1, AnyOnline),
            ),
            case(
                "round robin: never-assigned first",
                home(2),
                vec![
                    with(on(2, 2, 1), |a| a.last_assigned_at = Some(NOW)),
                    on(3, 2, 1),
                ],
                to(3, 2, Branch(Home)),
            ),
            case(
                "round robin: least recently assigned",
                home(2),
                vec![
                    with(on(2, 2, 1), |a| {
                        a.last_assigned_at = Some(Timestamp(NOW.0 - 10 * MIN))
                    }),
                    with(on(3, 2, 1), |a| {
                        a.last_assigned_at = Some(Timestamp(NOW.0 - 20 * MIN))
                    }),
                ],
                to(3, 2, Branch(Home)),
            ),
            case(
                "full tie -> lower id",
                home(2),
                vec![on(4, 2, 1), on(3, 2, 1)],
                to(3, 2, Branch(Home)),
            ),
            // --- shifts ---
            case(
                "home agent off shift -> other branch",
                home(2),
                vec![
                    with(on(2, 2, 0), |a| a.shifts = shift_hours(16, 23)),
                    on(1, 1, 2),
                ],
                to(1, 1, AnyOnline),
            ),
            case(
                "overnight shift covers morning? no",
                home(2),
                vec![
                    with(on(2, 2, 0), |a| {
                        a.shifts = WeeklyHours::every_day(&[Span::hm(20, 0, 2, 0)])
                    }),
                    on(1, 1, 0),
                ],
                to(1, 1, AnyOnline),
            ),
            Case {
                policy: RoutingPolicy {
                    use_shifts: false,
                    ..policy()
                },
                ..case(
                    "shifts ignored by policy",
                    home(2),
                    vec![
                        with(on(2, 2, 0), |a| a.shifts = shift_hours(16, 23)),
                        on(1, 1, 0),
                    ],
                    to(2, 2, Branch(Home)),
                )
            },
            // --- branch choice ---
            Case {
                ticket: RoutingTicket {
                    branch: Some(BranchId(1)),
                    ..Default::default()
                },
                ..case(
                    "ticket branch beats home",
                    home(2),
                    vec![on(1, 1, 3), on(2, 2, 0)],
                    to(1, 1, Branch(Ticket)),
                )
            },
            case(
                "location pin -> nearest branch",
                RoutingCustomer {
                    location: Some(pin_near_2),
                    home_branch: Some(BranchId(1)),
                    ..Default::default()
                },
                vec![on(1, 1, 0), on(2, 2, 3)],
                to(2, 2, Branch(Location)),
            ),
            case(
                "pin near inactive branch -> nearest active",
                RoutingCustomer {
                    location: Some(pin_near_3),
                    ..Default::default()
                },
                vec![on(1, 1, 0), on(2, 2, 0), on(3, 3, 0)],
                to(1, 1, Branch(Location)),
            ),
            Case {
                ticket: RoutingTicket {
                    branch: Some(BranchId(2)),
                    ..Default::default()
                },
                ..case(
                    "ticket branch beats pin",
                    RoutingCustomer {
                        location: Some(GeoPoint {
                            lat: 31.040,
                            lon: 31.380,
                        }),
                        ..Default::default()
                    },
                    vec![on(1, 1, 0), on(2, 2, 0)],
                    to(2, 2, Branch(Ticket)),
                )
            },
            case(
                "no branch known -> any online least loaded",
                RoutingCustomer::default(),
                vec![on(1, 1, 2), on(2, 2, 1)],
                to(2, 2, AnyOnline),
            ),
            // --- fallbacks and queue ---
            case(
                "home branch empty -> any online",
                home(2),
                vec![on(1, 1, 4)],
                to(1, 1, AnyOnline),
            ),
            case(
                "home branch all away -> any online",
                home(2),
                vec![agent(2, 2, Away, 0), on(1, 1, 4)],
                to(1, 1, AnyOnline),
            ),
            Case {
                policy: RoutingPolicy {
                    cross_branch_fallback: false,
                    ..policy()
                },
                ..case(
                    "no cross-branch fallback -> queue",
                    home(2),
                    vec![on(1, 1, 0)],
                    queue(Some(2)),
                )
            },
            Case {
                policy: RoutingPolicy {
                    cross_branch_fallback: false,
                    ..policy()
                },
                ..case(
                    "no fallback but no branch known -> any",
                    RoutingCustomer::default(),
                    vec![on(1, 1, 0)],
                    to(1, 1, AnyOnline),
                )
            },
            case(
                "nobody online -> queue with branch",
                home(2),
                vec![agent(1, 1, Offline, 0), agent(2, 2, Away, 0)],
                queue(Some(2)),
            ),
            case(
                "everyone full -> queue",
                home(1),
                vec![on(1, 1, 5), on(2, 2, 5)],
                queue(Some(1)),
            ),
            case(
                "no agents at all -> queue without branch",
                RoutingCustomer::default(),
                vec![],
                queue(None),
            ),
            Case {
                ticket: RoutingTicket {
                    exclude: vec![AgentId(2)],
                    ..Default::default()
                },
                ..case(
                    "excluded agent skipped",
                    home(2),
                    vec![on(2, 2, 0), on(3, 2, 4)],
                    to(3, 2, Branch(Home)),
                )
            },
            Case {
                ticket: RoutingTicket {
                    exclude: vec![AgentId(1)],
                    ..Default::default()
                },
                ..case(
                    "excluded sticky agent skipped",
                    sticky(1, 5),
                    vec![on(1, 1, 0), on(2, 2, 1)],
                    to(2, 2, Branch(Home)),
                )
            },
        ];
        assert!(cases.len() >= 30, "{} cases", cases.len());
        for c in &cases {
            let got = route(
                &c.ticket,
                &c.customer,
                &c.agents,
                &branches(),
                &c.policy,
                NOW,
            );
            assert_eq!(got, c.want, "{}", c.name);
        }
    }

    fn queued(id: i64, minutes_ago: i64, home: Option<i64>) -> QueuedTicket {
        QueuedTicket {
            id: TicketId(id),
            queued_since: Timestamp(NOW.0 - minutes_ago * MIN),
            ticket: RoutingTicket::default(),
            customer: RoutingCustomer {
                home_branch: home.map(BranchId),
                ..Default::default()
            },
        }
    }

    #[test]
    fn backlog_on_login_oldest_first_within_capacity() {
        // One agent comes online with capacity 2: the two oldest tickets go to them.
        let agents = vec![
            with(on(1, 1, 0), |a| a.capacity = 2),
            agent(2, 2, Offline, 0),
        ];
        let q = vec![
            queued(10, 5, None),
            queued(11, 30, None),
            queued(12, 20, None),
        ];
        let got = assign_backlog(&q, &agents, &branches(), &policy(), NOW);
        let ids: Vec<_> = got.iter().map(|(t, a, _)| (t.0, a.0)).collect();
        assert_eq!(ids, vec![(11, 1), (12, 1)]);
    }

    #[test]
    fn backlog_spreads_round_robin_and_respects_branch() {
        let agents = vec![on(1, 1, 0), on(2, 1, 0), on(3, 2, 0)];
        let q = vec![
            queued(1, 40, Some(1)),
            queued(2, 30, Some(1)),
            queued(3, 20, Some(2)),
            queued(4, 10, Some(1)),
        ];
        let got = assign_backlog(&q, &agents, &branches(), &policy(), NOW);
        let ids: Vec<_> = got.iter().map(|(t, a, _)| (t.0, a.0)).collect();
        assert_eq!(ids, vec![(1, 1), (2, 2), (3, 3), (4, 1)]);
        assert!(
            assign_backlog(&q, &[agent(1, 1, Offline, 0)], &branches(), &policy(), NOW).is_empty()
        );
    }

    #[test]
    fn delay_reassignment() {
        let t = RoutingTicket {
            branch: Some(BranchId(1)),
            ..Default::default()
        };
        let c = RoutingCustomer {
            previous_agent: prev(1, 1),
            ..Default::default()
        };
        // Another agent of the same branch takes it.
        let agents = vec![on(1, 1, 1), on(2, 1, 3), on(3, 2, 0)];
        assert_eq!(
            reassign_on_delay(&t, &c, AgentId(1), &agents, &branches(), &policy(), NOW),
            Some((AgentId(2), Some(BranchId(1))))
        );
        // Nobody else in the branch: another branch.
        let agents = vec![on(1, 1, 1), on(3, 2, 0)];
        assert_eq!(
            reassign_on_delay(&t, &c, AgentId(1), &agents, &branches(), &policy(), NOW),
            Some((AgentId(3), Some(BranchId(2))))
        );
        // Nobody else at all: stays.
        let agents = vec![on(1, 1, 1), agent(3, 2, Offline, 0)];
        assert_eq!(
            reassign_on_delay(&t, &c, AgentId(1), &agents, &branches(), &policy(), NOW),
            None
        );
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::domain::schedule::Span;
    use proptest::prelude::*;

    fn agent_strategy() -> impl Strategy<Value = AgentSnapshot> {
        (
            1i64..8,
            proptest::option::of(1i64..4),
            0u8..3,
            0u32..6,
            0u32..6,
            any::<bool>(),
            proptest::option::of(0i64..100),
        )
            .prop_map(
                |(id, branch, status, load, cap, shift, last)| AgentSnapshot {
                    id: AgentId(id),
                    branch: branch.map(BranchId),
                    status: [AgentStatus::Online, AgentStatus::Away, AgentStatus::Offline]
                        [status as usize],
                    open_tickets: load,
                    capacity: cap,
                    shifts: if shift {
                        WeeklyHours::every_day(&[Span::hm(12, 0, 20, 0)])
                    } else {
                        WeeklyHours::default()
                    },
                    last_assigned_at: last.map(Timestamp),
                },
            )
    }

    fn policy() -> RoutingPolicy {
        RoutingPolicy {
            stickiness: Duration::from_secs(3600),
            time_zone: TimeZone::get("Africa/Cairo").unwrap(),
            use_shifts: true,
            cross_branch_fallback: true,
        }
    }

    proptest! {
        #[test]
        fn a_chosen_agent_is_always_eligible(
            agents in proptest::collection::vec(agent_strategy(), 0..8),
            home in proptest::option::of(1i64..4),
            prev in proptest::option::of(1i64..8),
            minute in 0i64..(24 * 60),
        ) {
            let mut seen = std::collections::HashSet::new();
            let agents: Vec<_> = agents.into_iter().filter(|a| seen.insert(a.id)).collect();
            let now = Timestamp(1_795_550_400_000 + minute * 60_000);
            let c = RoutingCustomer { previous_agent: prev.map(|p| (AgentId(p), now)), home_branch: home.map(BranchId), location: None };
            let p = policy();
            if let Assignment::Agent { agent, .. } = route(&RoutingTicket::default(), &c, &agents, &[], &p, now) {
                let a = agents.iter().find(|a| a.id == agent).unwrap();
                prop_assert!(eligible(a, &RoutingTicket::default(), &p, now));
            } else {
                prop_assert!(!agents.iter().any(|a| eligible(a, &RoutingTicket::default(), &p, now)));
            }
        }

        #[test]
        fn the_backlog_never_exceeds_capacity(
            agents in proptest::collection::vec(agent_strategy(), 0..6),
            n in 0usize..20,
        ) {
            let mut seen = std::collections::HashSet::new();
            let agents: Vec<_> = agents.into_iter().filter(|a| seen.insert(a.id)).collect();
            let now = Timestamp(1_795_593_600_000);
            let queue: Vec<_> = (0..n).map(|i| QueuedTicket { id: TicketId(i as i64), queued_since: Timestamp(i as i64), ticket: RoutingTicket::default(), customer: RoutingCustomer::default() }).collect();
            let out = assign_backlog(&queue, &agents, &[], &policy(), now);
            for a in &agents {
                let got = out.iter().filter(|(_, x, _)| *x == a.id).count() as u32;
                prop_assert!(got == 0 || a.open_tickets + got <= a.capacity);
            }
            // Oldest first: the assigned tickets are a prefix of the queue when all are eligible alike.
            let mut ids: Vec<_> = out.iter().map(|(t, _, _)| t.0).collect();
            ids.sort_unstable();
            prop_assert_eq!(ids, (0..out.len() as i64).collect::<Vec<_>>());
        }
    }
}
