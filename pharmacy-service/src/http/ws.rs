//! `GET /ws`: the live event feed, cookie-authenticated (or bearer). Every event is a JSON
//! object `{"type": "newMessage", "seq": 17, "at": ms, ...fields}`; each connection gets only
//! what its user may see (see [`super::access`]). `GET /ws?since=N` first replays the events
//! after `N` still in the bus's ring (a `{"type": "resync"}` says the gap was too long: reload).
//!
//! The first frame is `{"type": "hello", "seq", "user", "whatsapp"}`: `whatsapp` is the
//! WhatsApp link's state at that moment (`connected`, `disconnected`, `logged_out`, ...), so a
//! page opened during an outage shows it at once. Admins then get every `whatsappStatus`;
//! agents get `{"type": "whatsappLink", "state"}` (the state only: no QR, no details).
//!
//! Clients may send `{"type": "typing", "ticket_id": N, "typing": true}` and
//! `{"type": "ping"}`. Typing reaches the others working on that ticket as `{"type": "typing",
//! "typing", "ticket_id", "user_id", "name", "agent_id" (agents), "seq", "ephemeral": true}`:
//! an ephemeral event carrying the current `seq`, never in the bus's replay ring (a flood of
//! them would push real events out of it and make every resuming client reload). A user's
//! typing in a ticket is relayed at most once per [`TYPING_INTERVAL`] (a stop only after a
//! relayed start); the rest is dropped.
//!
//! A client frame is at most [`MAX_CLIENT_MESSAGE`] bytes (its events are tens of bytes); a
//! larger one closes the socket.
//!
//! `{"type": "viewing", "ticket_id": N}` says the user opened that ticket (and left any other),
//! `{"type": "left"}` that they closed it. The others who may see the ticket get ephemeral
//! `{"type": "viewing", "viewing": true|false, "ticket_id", "user_id", "name"}` events; a user
//! who starts viewing is first told who is already there, and a closed connection leaves.
//!
//! Presence follows the live connections: an offline agent who connects goes online; when an
//! agent's last connection closes and stays closed for `presence_grace`, an online agent goes
//! offline. An explicit `away` is kept while connected.

use super::AppState;
use super::auth::{CurrentUser, identify};
use super::error::{ApiError, ApiQuery, ApiResult};
use super::live::{EventFrame, LiveFrame, NoticeFrom};
use crate::app::{Envelope, LiveEvent};
use crate::domain::ids::{AgentId, TicketId, UserId};
use crate::domain::routing::AgentStatus;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// The largest message a client may send (frames and whole messages alike).
pub const MAX_CLIENT_MESSAGE: usize = 16 * 1024;

/// A user's typing in one ticket is relayed at most this often.
pub const TYPING_INTERVAL: Duration = Duration::from_secs(1);

/// What a [`Notice`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// Started (`true`) or stopped typing.
    Typing(bool),
    /// Opened (`true`) or left the ticket.
    Viewing(bool),
}

/// A "someone is typing / viewing this ticket" notice (not stored, not replayed).
#[derive(Debug, Clone)]
pub struct Notice {
    /// The ticket.
    pub ticket_id: TicketId,
    /// Who.
    pub user_id: UserId,
    /// Their name.
    pub name: String,
    /// Their agent seat, if they have one.
    pub agent_id: Option<AgentId>,
    /// Typing or viewing, started or stopped.
    pub kind: NoticeKind,
    /// Only for this connection (telling a newcomer who is already there); `None`: everyone.
    pub to_conn: Option<u64>,
}

/// One connection viewing a ticket.
#[derive(Debug, Clone)]
struct Viewer {
    conn: u64,
    user_id: UserId,
    name: String,
    agent_id: Option<AgentId>,
}

/// Live connection bookkeeping shared by all sockets.
pub struct Live {
    connections: Mutex<HashMap<AgentId, usize>>,
    notices: broadcast::Sender<Notice>,
    viewers: Mutex<HashMap<TicketId, Vec<Viewer>>>,
    typing: Mutex<HashMap<(UserId, TicketId), TypingRelay>>,
    next_conn: AtomicU64,
}

/// What was last relayed of a user's typing in a ticket.
#[derive(Debug, Clone, Copy)]
struct TypingRelay {
    /// The last start relayed.
    started: Option<Instant>,
    /// The last relayed notice was a start.
    shown: bool,
}

impl TypingRelay {
    fn shown_recently(&self, now: Instant) -> bool {
        self.started
            .is_some_and(|t| now.duration_since(t) < TYPING_INTERVAL)
    }
}

impl Default for Live {
    fn default() -> Self {
        Live {
            connections: Mutex::new(HashMap::new()),
            notices: broadcast::channel(256).0,
            viewers: Mutex::new(HashMap::new()),
            typing: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(1),
        }
    }
}

impl Live {
    fn change(&self, agent: AgentId, delta: isize) -> usize {
        let mut m = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(agent).or_insert(0);
        *n = n.saturating_add_signed(delta);
        *n
    }

    /// Records that connection `conn` views `ticket` (or nothing) and tells the others; the
    /// newcomer is told who is already viewing.
    fn view(&self, conn: u64, me: &CurrentUser, ticket: Option<TicketId>) {
        let mut m = self.viewers.lock().unwrap_or_else(|p| p.into_inner());
        let before = m
            .iter()
            .find(|(_, vs)| vs.iter().any(|v| v.conn == conn))
            .map(|(t, _)| *t);
        if before == ticket {
            return;
        }
        let notice = |ticket_id, kind, to_conn| Notice {
            ticket_id,
            user_id: me.id,
            name: me.name.clone(),
            agent_id: me.agent_id,
            kind,
            to_conn,
        };
        if let Some(old) = before {
            if let Some(vs) = m.get_mut(&old) {
                vs.retain(|v| v.conn != conn);
                if vs.is_empty() {
                    m.remove(&old);
                }
            }
            let _ = self
                .notices
                .send(notice(old, NoticeKind::Typing(false), None));
            let _ = self
                .notices
                .send(notice(old, NoticeKind::Viewing(false), None));
        }
        if let Some(new) = ticket {
            let vs = m.entry(new).or_default();
            for v in vs.iter().filter(|v| v.user_id != me.id) {
                let _ = self.notices.send(Notice {
                    ticket_id: new,
                    user_id: v.user_id,
                    name: v.name.clone(),
                    agent_id: v.agent_id,
                    kind: NoticeKind::Viewing(true),
                    to_conn: Some(conn),
                });
            }
            vs.push(Viewer {
                conn,
                user_id: me.id,
                name: me.name.clone(),
                agent_id: me.agent_id,
            });
            let _ = self
                .notices
                .send(notice(new, NoticeKind::Viewing(true), None));
        }
    }

    /// Whether a typing start (`on`) or stop of `user` in `ticket` is relayed now: a start at
    /// most once per [`TYPING_INTERVAL`], a stop only after a relayed start.
    fn typing_passes(&self, user: UserId, ticket: TicketId, on: bool) -> bool {
        let now = Instant::now();
        let mut m = self.typing.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() > 4096 {
            // Browsers forget a typing notice after a few seconds anyway.
            m.retain(|_, r| {
                r.started
                    .is_some_and(|t| now.duration_since(t) < Duration::from_secs(60))
            });
        }
        let r = m.entry((user, ticket)).or_insert(TypingRelay {
            started: None,
            shown: false,
        });
        if !on {
            return std::mem::replace(&mut r.shown, false);
        }
        if r.shown_recently(now) {
            return false;
        }
        *r = TypingRelay {
            started: Some(now),
            shown: true,
        };
        true
    }

    /// How many live connections the agent has.
    pub fn connections(&self, agent: AgentId) -> usize {
        let m = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        m.get(&agent).copied().unwrap_or(0)
    }
}

/// Query of `GET /ws`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WsQuery {
    /// The last sequence number the client saw.
    #[param(minimum = 0)]
    pub since: Option<u64>,
}

/// `GET /ws`.
#[utoipa::path(
    get,
    path = "/ws",
    tag = "ops",
    operation_id = "live_events",
    summary = "The live event socket (WebSocket upgrade)",
    description = "Events: newMessage, messageSent, messageDelivered, messageRead, ticketAssigned, ticketUpdated, ticketClosed, newCustomer, agentStatus, typing, viewing, whatsappStatus (admins), whatsappLink (agents: the link's state without details); each carries `seq` (typing and viewing notices from other users are `ephemeral`: not replayed). The frames are the components `EventFrame` (a `LiveEvent` with `seq` and `at`) and `LiveFrame` (hello, resync, pong, whatsappLink, typing, viewing). With `since=N` the events after N still in the buffer are replayed first; `{\"type\": \"resync\"}` says the gap was too long. A client message larger than 16 KiB closes the socket.",
    params(WsQuery),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol; JSON events follow"),
        super::openapi::SocketErrors,
    ),
    security(("session" = []), ("bearer" = [])),
)]
pub async fn socket(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<WsQuery>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let me = identify(&state, &headers).await?;
    // Cross-site WebSocket hijacking: a browser always sends Origin; it must be this host.
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let origin_host = origin.split("://").nth(1).unwrap_or(origin);
        if origin_host != host {
            return Err(ApiError::Forbidden("cross-origin WebSocket".into()));
        }
    }
    let since = q.since;
    let upgrade = upgrade
        .map_err(|_| ApiError::BadRequest("expected a WebSocket upgrade".into()))?
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE);
    Ok(upgrade.on_upgrade(move |s| run(state, me, since, s)))
}

/// Whether `me` may see the envelope.
pub async fn visible(state: &AppState, me: &CurrentUser, env: &Envelope) -> bool {
    if me.is_admin() {
        return true;
    }
    if env.admin_only {
        return false;
    }
    // Most events carry the ticket as it is now; only the others cost a query.
    match &env.event {
        LiveEvent::AgentStatus { .. } => true,
        LiveEvent::NewCustomer { customer } => state
            .app
            .serves(&me.caller(), customer.id)
            .await
            .unwrap_or(false),
        LiveEvent::TicketAssigned {
            ticket,
            previous_agent,
            ..
        } => {
            me.caller().works_on(ticket)
                || (me.agent_id.is_some() && *previous_agent == me.agent_id)
        }
        LiveEvent::NewMessage { ticket, .. }
        | LiveEvent::TicketUpdated { ticket }
        | LiveEvent::TicketLabels { ticket, .. }
        | LiveEvent::TicketClosed { ticket } => me.caller().works_on(ticket),
        LiveEvent::AdminAlert { .. } | LiveEvent::WhatsappStatus { .. } => false,
        _ => match env.ticket_id {
            Some(t) => ticket_visible(state, me, t).await,
            None => false,
        },
    }
}

/// Whether `me` works the ticket (the live view of a ticket is its workers').
async fn ticket_visible(state: &AppState, me: &CurrentUser, id: TicketId) -> bool {
    state.app.workable_ticket(&me.caller(), id).await.is_ok()
}

/// Sends the envelope if `me` may see it; false when the socket is gone.
async fn deliver(
    state: &AppState,
    me: &CurrentUser,
    socket: &mut WebSocket,
    env: &Envelope,
) -> bool {
    if let LiveEvent::WhatsappStatus { state: link, .. } = &env.event
        && !me.is_admin()
    {
        return match agent_link_frame(env, link) {
            Some(f) => send_json(socket, &f).await,
            None => true,
        };
    }
    if !visible(state, me, env).await {
        return true;
    }
    send_json(socket, &EventFrame::from(env)).await
}

/// The link's state as an agent sees it (`whatsappLink`): the state's name only. The admins'
/// `whatsappStatus` detail is not for agents (while unpaired it carries the pairing QR), and
/// the outbox's own `paused`/`resumed` say nothing about the link.
fn agent_link_frame(env: &Envelope, link: &str) -> Option<LiveFrame> {
    let shown = crate::alerts::webhook::public_link_state(link)?;
    Some(LiveFrame::WhatsappLink {
        state: shown.to_string(),
        seq: env.seq,
        at: env.at,
    })
}

async fn send_json(socket: &mut WebSocket, v: &impl Serialize) -> bool {
    let Ok(text) = serde_json::to_string(v) else {
        return true;
    };
    socket.send(Message::Text(text.into())).await.is_ok()
}

async fn connected(state: &AppState, me: &CurrentUser) {
    let Some(agent) = me.agent_id else { return };
    if state.live.change(agent, 1) == 1
        && let Err(e) = state
            .app
            .follow_presence(agent, AgentStatus::Offline, AgentStatus::Online)
            .await
    {
        tracing::warn!(error = %e, "presence: going online failed");
    }
}

fn disconnected(state: &AppState, me: &CurrentUser) {
    let Some(agent) = me.agent_id else { return };
    if state.live.change(agent, -1) > 0 {
        return;
    }
    let state = state.clone();
    tokio::spawn(async move {
        tokio::time::sleep(state.config.presence_grace).await;
        if state.live.connections(agent) > 0 {
            return;
        }
        if let Err(e) = state
            .app
            .follow_presence(agent, AgentStatus::Online, AgentStatus::Offline)
            .await
        {
            tracing::warn!(error = %e, "presence: going offline failed");
        }
    });
}

async fn run(state: AppState, me: CurrentUser, since: Option<u64>, mut socket: WebSocket) {
    // Subscribe before replaying so nothing falls between the two.
    let mut bus = state.app.events().subscribe();
    let mut notices = state.live.notices.subscribe();
    let conn = state.live.next_conn.fetch_add(1, Ordering::Relaxed);
    let mut last = since.unwrap_or_else(|| state.app.events().last_seq());
    // The link's state now, so a page opened during an outage shows it at once.
    let link = state.whatsapp.status().await.ok().map(|s| s.state);
    let hello = LiveFrame::Hello {
        seq: last,
        user: super::auth::UserView::from(&me),
        whatsapp: link,
    };
    if !send_json(&mut socket, &hello).await {
        return;
    }
    if let Some(since) = since {
        let (missed, complete) = state.app.events().since(since);
        if !complete {
            let resync = LiveFrame::Resync {
                seq: state.app.events().last_seq(),
            };
            let _ = send_json(&mut socket, &resync).await;
        }
        for env in missed {
            last = env.seq;
            if !deliver(&state, &me, &mut socket, &env).await {
                return;
            }
        }
    }
    connected(&state, &me).await;
    loop {
        tokio::select! {
            r = bus.recv() => match r {
                Ok(env) => {
                    if env.seq <= last { continue; }
                    last = env.seq;
                    if !deliver(&state, &me, &mut socket, &env).await {
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Replay what the ring still has; otherwise tell the client to reload.
                    let (missed, complete) = state.app.events().since(last);
                    let resync = LiveFrame::Resync { seq: state.app.events().last_seq() };
                    if !complete && !send_json(&mut socket, &resync).await {
                        break;
                    }
                    for env in missed {
                        last = env.seq;
                        if !deliver(&state, &me, &mut socket, &env).await {
                            break;
                        }
                    }
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            n = notices.recv() => {
                if let Ok(n) = n
                    && n.user_id != me.id
                    && n.to_conn.is_none_or(|c| c == conn)
                    && ticket_visible(&state, &me, n.ticket_id).await
                {
                    let from = NoticeFrom {
                        seq: state.app.events().last_seq(),
                        ephemeral: true,
                        ticket_id: n.ticket_id,
                        user_id: n.user_id,
                        name: n.name,
                        agent_id: n.agent_id,
                    };
                    let f = match n.kind {
                        NoticeKind::Typing(typing) => LiveFrame::Typing { from, typing },
                        NoticeKind::Viewing(viewing) => LiveFrame::Viewing { from, viewing },
                    };
                    if !send_json(&mut socket, &f).await { break; }
                }
            },
            m = socket.recv() => match m {
                Some(Ok(Message::Text(text))) => {
                    let v: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
                    match v.get("type").and_then(Value::as_str) {
                        Some("typing") => {
                            let typing = v.get("typing").and_then(Value::as_bool).unwrap_or(true);
                            // The rate limit first: a flood costs no query.
                            if let Some(id) = v.get("ticket_id").and_then(Value::as_i64).map(TicketId)
                                && state.live.typing_passes(me.id, id, typing)
                                && ticket_visible(&state, &me, id).await
                            {
                                let _ = state.live.notices.send(Notice {
                                    ticket_id: id,
                                    user_id: me.id,
                                    name: me.name.clone(),
                                    agent_id: me.agent_id,
                                    kind: NoticeKind::Typing(typing),
                                    to_conn: None,
                                });
                            }
                        }
                        Some("viewing") => {
                            // A ticket the user may not see counts as viewing nothing.
                            let ticket = match v.get("ticket_id").and_then(Value::as_i64) {
                                Some(id) if ticket_visible(&state, &me, TicketId(id)).await => Some(TicketId(id)),
                                _ => None,
                            };
                            state.live.view(conn, &me, ticket);
                        }
                        Some("left") => state.live.view(conn, &me, None),
                        Some("ping")
                            if !send_json(&mut socket, &LiveFrame::Pong { seq: state.app.events().last_seq() }).await =>
                        {
                            break;
                        }
                        _ => {}
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    state.live.view(conn, &me, None);
    disconnected(&state, &me);
}
