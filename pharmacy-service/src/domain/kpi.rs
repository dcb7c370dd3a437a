//! KPIs as pure folds over ticket events. These formulas are the definitions shown to admins;
//! the SQL aggregates in `db::kpi` are tested against them.
//!
//! Per agent, per branch and per local day (rolled up monthly):
//!
//! - **First response time** = time of the first agent message of a care cycle − start of that
//!   cycle (the ticket's creation, or its latest reopen). One sample per cycle, credited to the
//!   replying agent. Automatic replies (greeting, out-of-office, survey) do not count.
//! - **Reply time** = time of an agent message − `waiting_since`, where `waiting_since` is the
//!   first customer message not yet answered by an agent (later customer messages do not move
//!   it; an agent message clears it). One sample per agent message that ends a wait, credited to
//!   the replying agent. The first response is also a reply-time sample when the customer was
//!   waiting.
//! - **Resolution time** = close time − start of the care cycle being closed (a reopen starts a
//!   new cycle, so reopens do not inflate it). Credited to the ticket's agent at closing.
//! - **Messages sent** = agent messages (not automatic ones), credited to their author.
//! - **Messages received** = customer messages, credited to the ticket's agent at that moment.
//! - **Tickets handled** = closings, credited to the ticket's agent at closing.
//! - **CSAT average** = sum of ratings ÷ number of ratings, credited to the agent who had the
//!   ticket when it closed.
//! - **Delays** = agent delay events (no first response within the configured time).
//!
//! Averages are `sum ÷ count`; a count of zero shows no average.

use super::ids::{AgentId, BranchId, TicketId};
use super::time::{Timestamp, month_key};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What happened to a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum TicketEventKind {
    /// The ticket was created (a care cycle starts).
    Created,
    /// A closed ticket was reopened (a new care cycle starts).
    Reopened,
    /// The ticket got an agent (or lost it: `None`).
    Assigned {
        /// The new agent.
        agent: Option<AgentId>,
    },
    /// A customer message arrived.
    CustomerMessage,
    /// An agent wrote to the customer.
    AgentMessage {
        /// The author.
        agent: AgentId,
    },
    /// The service wrote automatically (greeting, out-of-office, survey): no KPI effect.
    SystemMessage,
    /// The ticket was closed.
    Closed,
    /// The customer rated the ticket.
    Rated {
        /// 1-5.
        rating: u8,
    },
    /// The assigned agent did not respond in time.
    Delayed {
        /// The agent who let it wait.
        agent: AgentId,
    },
}

impl TicketEventKind {
    /// The database spelling of the kind and its value column.
    pub fn to_row(self) -> (&'static str, Option<AgentId>, Option<i64>) {
        use TicketEventKind::*;
        match self {
            Created => ("created", None, None),
            Reopened => ("reopened", None, None),
            Assigned { agent } => ("assigned", agent, None),
            CustomerMessage => ("customer_message", None, None),
            AgentMessage { agent } => ("agent_message", Some(agent), None),
            SystemMessage => ("system_message", None, None),
            Closed => ("closed", None, None),
            Rated { rating } => ("rated", None, Some(rating as i64)),
            Delayed { agent } => ("delayed", Some(agent), None),
        }
    }

    /// Parses a row written by [`TicketEventKind::to_row`].
    pub fn from_row(kind: &str, agent: Option<AgentId>, value: Option<i64>) -> Option<Self> {
        use TicketEventKind::*;
        Some(match kind {
            "created" => Created,
            "reopened" => Reopened,
            "assigned" => Assigned { agent },
            "customer_message" => CustomerMessage,
            "agent_message" => AgentMessage { agent: agent? },
            "system_message" => SystemMessage,
            "closed" => Closed,
            "rated" => Rated {
                rating: u8::try_from(value?).ok()?,
            },
            "delayed" => Delayed { agent: agent? },
            _ => return None,
        })
    }
}

/// One event of a ticket's journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketEvent {
    /// The ticket.
    pub ticket: TicketId,
    /// When.
    pub at: Timestamp,
    /// The ticket's branch at that moment.
    pub branch: Option<BranchId>,
    /// What.
    pub kind: TicketEventKind,
}

/// Sums and counts; averages are derived.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KpiTotals {
    /// First-response samples.
    pub first_response_count: i64,
    /// Sum of first-response times, ms.
    pub first_response_ms: i64,
    /// Reply-time samples.
    pub reply_count: i64,
    /// Sum of reply times, ms.
    pub reply_ms: i64,
    /// Resolutions.
    pub resolution_count: i64,
    /// Sum of resolution times, ms.
    pub resolution_ms: i64,
    /// Agent messages sent.
    pub messages_sent: i64,
    /// Customer messages received.
    pub messages_received: i64,
    /// Tickets closed.
    pub tickets_handled: i64,
    /// Ratings.
    pub csat_count: i64,
    /// Sum of ratings.
    pub csat_sum: i64,
    /// Delay events.
    pub delays: i64,
}

impl KpiTotals {
    /// Adds `o` into `self`.
    pub fn add(&mut self, o: &KpiTotals) {
        self.first_response_count += o.first_response_count;
        self.first_response_ms += o.first_response_ms;
        self.reply_count += o.reply_count;
        self.reply_ms += o.reply_ms;
        self.resolution_count += o.resolution_count;
        self.resolution_ms += o.resolution_ms;
        self.messages_sent += o.messages_sent;
        self.messages_received += o.messages_received;
        self.tickets_handled += o.tickets_handled;
        self.csat_count += o.csat_count;
        self.csat_sum += o.csat_sum;
        self.delays += o.delays;
    }

    /// Average first-response time in ms.
    pub fn avg_first_response_ms(&self) -> Option<f64> {
        avg(self.first_response_ms, self.first_response_count)
    }

    /// Average reply time in ms.
    pub fn avg_reply_ms(&self) -> Option<f64> {
        avg(self.reply_ms, self.reply_count)
    }

    /// Average resolution time in ms.
    pub fn avg_resolution_ms(&self) -> Option<f64> {
        avg(self.resolution_ms, self.resolution_count)
    }

    /// CSAT average, 1-5.
    pub fn csat_avg(&self) -> Option<f64> {
        avg(self.csat_sum, self.csat_count)
    }
}

fn avg(sum: i64, count: i64) -> Option<f64> {
    (count > 0).then(|| sum as f64 / count as f64)
}

/// The bucket a KPI sample falls in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct KpiKey {
    /// The credited agent (`None`: unassigned).
    pub agent: Option<AgentId>,
    /// The ticket's branch.
    pub branch: Option<BranchId>,
    /// The local day `YYYY-MM-DD` of the sample.
    pub day: String,
}

/// Per-ticket fold state.
#[derive(Debug, Default, Clone)]
struct Cycle {
    started: Option<Timestamp>,
    responded: bool,
    waiting_since: Option<Timestamp>,
    agent: Option<AgentId>,
    closer_agent: Option<AgentId>,
}

/// Folds a journal into totals per (agent, branch, local day). Events may come in any order;
/// they are sorted by (ticket, time, input order) first.
pub fn fold(events: &[TicketEvent], tz: &TimeZone) -> BTreeMap<KpiKey, KpiTotals> {
    let mut idx: Vec<usize> = (0..events.len()).collect();
    idx.sort_by_key(|&i| (events[i].ticket, events[i].at, i));
    let mut out: BTreeMap<KpiKey, KpiTotals> = BTreeMap::new();
    let mut cycles: BTreeMap<TicketId, Cycle> = BTreeMap::new();
    for i in idx {
        let e = &events[i];
        let c = cycles.entry(e.ticket).or_default();
        let day = e.at.local(tz).day_key();
        let mut bump = |agent: Option<AgentId>, f: &dyn Fn(&mut KpiTotals)| {
            let key = KpiKey {
                agent,
                branch: e.branch,
                day: day.clone(),
            };
            f(out.entry(key).or_default());
        };
        match e.kind {
            TicketEventKind::Created | TicketEventKind::Reopened => {
                c.started = Some(e.at);
                c.responded = false;
                c.closer_agent = None;
            }
            TicketEventKind::Assigned { agent } => c.agent = agent,
            TicketEventKind::CustomerMessage => {
                bump(c.agent, &|t| t.messages_received += 1);
                c.waiting_since.get_or_insert(e.at);
            }
            TicketEventKind::AgentMessage { agent } => {
                let frt = (!c.responded)
                    .then(|| c.started.map(|s| e.at.millis_since(s)))
                    .flatten();
                let reply = c.waiting_since.map(|w| e.at.millis_since(w));
                bump(Some(agent), &|t| {
                    t.messages_sent += 1;
                    if let Some(ms) = frt {
                        t.first_response_count += 1;
                        t.first_response_ms += ms;
                    }
                    if let Some(ms) = reply {
                        t.reply_count += 1;
                        t.reply_ms += ms;
                    }
                });
                c.responded = true;
                c.waiting_since = None;
            }
            TicketEventKind::SystemMessage => {}
            TicketEventKind::Closed => {
                let res = c.started.map(|s| e.at.millis_since(s));
                bump(c.agent, &|t| {
                    t.tickets_handled += 1;
                    if let Some(ms) = res {
                        t.resolution_count += 1;
                        t.resolution_ms += ms;
                    }
                });
                c.closer_agent = c.agent;
                c.waiting_since = None;
            }
            TicketEventKind::Rated { rating } => {
                let who = c.closer_agent.or(c.agent);
                bump(who, &|t| {
                    t.csat_count += 1;
                    t.csat_sum += rating as i64;
                });
            }
            TicketEventKind::Delayed { agent } => bump(Some(agent), &|t| t.delays += 1),
        }
    }
    out
}

/// Rolls daily buckets up by a coarser key (per agent per month, per branch per day, ...).
pub fn roll_up<K: Ord>(
    daily: &BTreeMap<KpiKey, KpiTotals>,
    key: impl Fn(&KpiKey) -> K,
) -> BTreeMap<K, KpiTotals> {
    let mut out = BTreeMap::new();
    for (k, v) in daily {
        out.entry(key(k)).or_insert_with(KpiTotals::default).add(v);
    }
    out
}

/// The month `YYYY-MM` of a `YYYY-MM-DD` day key.
pub fn month_of(day: &str) -> String {
    day.parse::<jiff::civil::Date>()
        .map(month_key)
        .unwrap_or_else(|_| day.chars().take(7).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use TicketEventKind::*;

    const MIN: i64 = 60_000;
    // 2026-11-25 08:00Z = 10:00 Cairo.
    const T0: i64 = 1_795_593_600_000;

    fn ev(ticket: i64, min: i64, kind: TicketEventKind) -> TicketEvent {
        TicketEvent {
            ticket: TicketId(ticket),
            at: Timestamp(T0 + min * MIN),
            branch: Some(BranchId(1)),
            kind,
        }
    }

    fn tz() -> TimeZone {
        TimeZone::get("Africa/Cairo").unwrap()
    }

    fn totals_for(events: &[TicketEvent], agent: i64) -> KpiTotals {
        let daily = fold(events, &tz());
        roll_up(&daily, |k| k.agent)
            .get(&Some(AgentId(agent)))
            .copied()
            .unwrap_or_default()
    }

    const A: AgentId = AgentId(7);
    const B: AgentId = AgentId(8);

    #[test]
    fn fold_table() {
        let cases: Vec<(&str, Vec<TicketEvent>, i64, KpiTotals)> = vec![
            (
                "first response from creation; reply time from first unanswered message",
                vec![
                    ev(1, 0, Created),
                    ev(1, 0, CustomerMessage),
                    ev(1, 0, Assigned { agent: Some(A) }),
                    ev(1, 2, CustomerMessage),
                    ev(1, 5, AgentMessage { agent: A }),
                ],
                7,
                // The first message arrived before the assignment: credited to "unassigned".
                KpiTotals {
                    first_response_count: 1,
                    first_response_ms: 5 * MIN,
                    reply_count: 1,
                    reply_ms: 5 * MIN,
                    messages_sent: 1,
                    messages_received: 1,
                    ..Default::default()
                },
            ),
            (
                "automatic replies do not stop the clocks",
                vec![
                    ev(1, 0, Created),
                    ev(1, 0, Assigned { agent: Some(A) }),
                    ev(1, 0, CustomerMessage),
                    ev(1, 0, SystemMessage),
                    ev(1, 3, AgentMessage { agent: A }),
                ],
                7,
                KpiTotals {
                    first_response_count: 1,
                    first_response_ms: 3 * MIN,
                    reply_count: 1,
                    reply_ms: 3 * MIN,
                    messages_sent: 1,
                    messages_received: 1,
                    ..Default::default()
                },
            ),
            (
                "second agent message without a customer wait: no reply sample",
                vec![
                    ev(1, 0, Created),
                    ev(1, 0, Assigned { agent: Some(A) }),
                    ev(1, 0, CustomerMessage),
                    ev(1, 1, AgentMessage { agent: A }),
                    ev(1, 2, AgentMessage { agent: A }),
                    ev(1, 10, CustomerMessage),
                    ev(1, 14, AgentMessage { agent: A }),
                ],
                7,
                KpiTotals {
                    first_response_count: 1,
                    first_response_ms: MIN,
                    reply_count: 2,
                    reply_ms: MIN + 4 * MIN,
                    messages_sent: 3,
                    messages_received: 2,
                    ..Default::default()
                },
            ),
            (
                "resolution and handled credited to the agent at closing; reopen starts a new cycle",
                vec![
                    ev(1, 0, Created),
                    ev(1, 0, Assigned { agent: Some(A) }),
                    ev(1, 0, CustomerMessage),
                    ev(1, 2, AgentMessage { agent: A }),
                    ev(1, 30, Closed),
                    ev(1, 40, Reopened),
                    ev(1, 40, CustomerMessage),
                    ev(1, 46, AgentMessage { agent: A }),
                    ev(1, 50, Closed),
                ],
                7,
                KpiTotals {
                    first_response_count: 2,
                    first_response_ms: 2 * MIN + 6 * MIN,
                    reply_count: 2,
                    reply_ms: 8 * MIN,
                    resolution_count: 2,
                    resolution_ms: 30 * MIN + 10 * MIN,
                    messages_sent: 2,
                    messages_received: 2,
                    tickets_handled: 2,
                    ..Default::default()
                },
            ),
            (
                "transfer: the replying agent gets the response, the closer's agent the rating",
                vec![
                    ev(1, 0, Created),
                    ev(1, 0, Assigned { agent: Some(A) }),
                    ev(1, 0, CustomerMessage),
                    ev(1, 1, Delayed { agent: A }),
                    ev(1, 1, Assigned { agent: Some(B) }),
                    ev(1, 4, AgentMessage { agent: B }),
                    ev(1, 9, Closed),
                    ev(1, 12, Rated { rating: 4 }),
                ],
                8,
                KpiTotals {
                    first_response_count: 1,
                    first_response_ms: 4 * MIN,
                    reply_count: 1,
                    reply_ms: 4 * MIN,
                    resolution_count: 1,
                    resolution_ms: 9 * MIN,
                    messages_sent: 1,
                    tickets_handled: 1,
                    csat_count: 1,
                    csat_sum: 4,
                    ..Default::default()
                },
            ),
            (
                "the delayed agent is charged the delay and the received message",
                vec![
                    ev(1, 0, Created),
                    ev(1, 0, Assigned { agent: Some(A) }),
                    ev(1, 0, CustomerMessage),
                    ev(1, 1, Delayed { agent: A }),
                    ev(1, 1, Assigned { agent: Some(B) }),
                ],
                7,
                KpiTotals {
                    messages_received: 1,
                    delays: 1,
                    ..Default::default()
                },
            ),
        ];
        for (name, events, agent, want) in cases {
            assert_eq!(totals_for(&events, agent), want, "{name}");
        }
    }

    #[test]
    fn days_are_local() {
        // 21:30Z on 25 Nov is 23:30 in Cairo; 22:30Z is 00:30 on the 26th.
        let base = Timestamp(T0 + 13 * 60 * MIN + 30 * MIN);
        let e = |ticket, at: Timestamp| TicketEvent {
            ticket: TicketId(ticket),
            at,
            branch: None,
            kind: CustomerMessage,
        };
        let daily = fold(
            &[
                e(1, base),
                e(2, base.plus(std::time::Duration::from_secs(3600))),
            ],
            &tz(),
        );
        let days: Vec<_> = daily.keys().map(|k| k.day.clone()).collect();
        assert_eq!(days, vec!["2026-11-25", "2026-11-26"]);
        assert_eq!(month_of("2026-11-26"), "2026-11");
    }

    #[test]
    fn rows_round_trip() {
        for k in [
            Created,
            Reopened,
            Assigned { agent: Some(A) },
            Assigned { agent: None },
            CustomerMessage,
            AgentMessage { agent: A },
            SystemMessage,
            Closed,
            Rated { rating: 5 },
            Delayed { agent: B },
        ] {
            let (s, a, v) = k.to_row();
            assert_eq!(TicketEventKind::from_row(s, a, v), Some(k));
        }
    }

    #[test]
    fn averages() {
        let t = KpiTotals {
            csat_count: 2,
            csat_sum: 9,
            ..Default::default()
        };
        assert_eq!(t.csat_avg(), Some(4.5));
        assert_eq!(t.avg_reply_ms(), None);
    }
}
