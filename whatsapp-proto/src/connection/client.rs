//! The client side of a connection: Noise initiator, then encrypted nodes.

use std::collections::{HashMap, VecDeque};

use rand_core::{CryptoRng, RngCore};

use super::stream::{Failure, StreamError, Success};
use super::{ConnectionError, SendError};
use crate::binary::{DecodeError, Node, decode_frame_plaintext, encode_frame_plaintext};
use crate::frame::{FrameDecoder, FrameEncoder};
use crate::jid::Jid;
use crate::noise::{self, HandshakeConfig, InitiatorAwaitServerHello, Transport};
use crate::xeddsa::KeyPair;

/// Timers of the client core, in milliseconds. Defaults are whatsmeow's; change them by
/// setting fields of [`Timeouts::default`] (more timers may come).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// How long to wait for ServerHello (whatsmeow `NoiseHandshakeResponseTimeout`, 20 s).
    pub handshake: u64,
    /// How long an IQ waits for its answer (whatsmeow `defaultRequestTimeout`, 75 s).
    pub iq: u64,
    /// Shortest pause between keepalive pings (whatsmeow `KeepAliveIntervalMin`, 20 s).
    pub keepalive_min: u64,
    /// Longest pause between keepalive pings (whatsmeow `KeepAliveIntervalMax`, 30 s).
    pub keepalive_max: u64,
    /// How long a ping waits for its answer (whatsmeow `KeepAliveResponseDeadline`, 10 s).
    pub keepalive_reply: u64,
    /// With no answered ping for this long the connection is declared dead
    /// (whatsmeow `KeepAliveMaxFailTime`, 3 min).
    pub keepalive_dead: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            handshake: 20_000,
            iq: 75_000,
            keepalive_min: 20_000,
            keepalive_max: 30_000,
            keepalive_reply: 10_000,
            keepalive_dead: 180_000,
        }
    }
}

/// Everything a client connection needs; made by [`ClientConfig::new`] (more settings may
/// come).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Handshake settings (root key, prologue).
    pub handshake: HandshakeConfig,
    /// The device's persistent static Noise key.
    pub noise_key: KeyPair,
    /// The serialized ClientPayload (see [`crate::payload`]): registration
    /// for a new device, login for a paired one.
    pub client_payload: Vec<u8>,
    /// Edge-routing bytes from an earlier connection, sent before the intro
    /// (left out when longer than the 24-bit length field allows).
    pub routing_info: Option<Vec<u8>>,
    /// Timers.
    pub timeouts: Timeouts,
    /// Acknowledge `receipt`, `notification` and `call` stanzas as soon as
    /// they arrive (the acks a client owes; `message` stanzas are answered by
    /// a receipt from the layer that decrypts them).
    pub auto_ack: bool,
}

impl ClientConfig {
    /// A configuration with default handshake settings and timers.
    pub fn new(noise_key: KeyPair, client_payload: Vec<u8>) -> Self {
        Self {
            handshake: HandshakeConfig::default(),
            noise_key,
            client_payload,
            routing_info: None,
            timeouts: Timeouts::default(),
            auto_ack: true,
        }
    }
}

/// Input to [`ClientConnection::handle_input`]. Times are unix milliseconds.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Input<'a> {
    /// Bytes of one WebSocket message (any split of frames is fine).
    Receive {
        /// The current time.
        now: u64,
        /// The bytes.
        data: &'a [u8],
    },
    /// Time passed (call at or after [`ClientConnection::poll_timeout`]).
    Timeout {
        /// The current time.
        now: u64,
    },
}

/// What the core asks of its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Output {
    /// Send these bytes as one binary WebSocket message.
    Transmit(Vec<u8>),
    /// Something happened.
    Event(Event),
}

/// Why an IQ got no result.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IqError {
    /// The server answered `type="error"`.
    Server {
        /// `<error code>`, 0 when absent.
        code: u64,
        /// `<error text>`.
        text: Option<String>,
        /// The whole answer.
        node: Node,
    },
    /// The answer's `type` is neither `result` nor `error` (empty, `get`, …): whatsmeow
    /// hands any `<iq>` with a waiting id to its waiter and fails such an answer with
    /// `IQError{RawNode}` (`request.go`).
    Unexpected {
        /// The whole answer.
        node: Node,
    },
    /// No answer within the IQ timeout.
    Timeout,
    /// The connection ended before the answer.
    Disconnected,
}

/// Why the connection ended. After this event the core is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Disconnect {
    /// `<failure>`: the login was refused.
    LoginFailed(Failure),
    /// `<stream:error>`.
    StreamError(StreamError),
    /// `<xmlstreamend/>`: the server closed the stream.
    StreamEnd,
    /// No ServerHello in time.
    HandshakeTimeout,
    /// No keepalive answered for [`Timeouts::keepalive_dead`].
    KeepaliveTimeout,
    /// The peer sent something unreadable (also returned by `handle_input`).
    ProtocolError(ConnectionError),
    /// [`ClientConnection::close`] was called.
    Closed,
}

impl Disconnect {
    /// Whether the driver should reconnect (with backoff).
    pub fn should_reconnect(&self) -> bool {
        match self {
            Disconnect::LoginFailed(f) => f.should_reconnect(),
            Disconnect::StreamError(e) => e.should_reconnect(),
            Disconnect::StreamEnd
            | Disconnect::HandshakeTimeout
            | Disconnect::KeepaliveTimeout
            | Disconnect::ProtocolError(_) => true,
            Disconnect::Closed => false,
        }
    }
}

/// Events of a client connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The Noise handshake completed; ClientFinish is queued for sending.
    HandshakeComplete {
        /// The authenticated server static key.
        server_static: [u8; 32],
    },
    /// `<success>`: logged in.
    LoggedIn(Success),
    /// The answer to an IQ sent with [`ClientConnection::send_iq`].
    IqResponse {
        /// The IQ's id.
        id: String,
        /// The `type="result"` node, or why there is none.
        result: Result<Node, IqError>,
    },
    /// A keepalive ping went unanswered.
    KeepaliveMissed {
        /// Consecutive misses.
        consecutive: u32,
    },
    /// `<ib><offline_preview …/>`: size of the offline queue about to arrive.
    OfflinePreview {
        /// The `count` attribute.
        count: Option<u64>,
        /// The whole `offline_preview` node (per-kind counts).
        node: Node,
    },
    /// `<ib><offline count=N/>`: the offline queue has been delivered.
    OfflineSyncCompleted {
        /// The `count` attribute.
        count: Option<u64>,
    },
    /// `<ib><edge_routing><routing_info>`: bytes to send before the intro next time.
    EdgeRouting(Vec<u8>),
    /// Any other stanza (messages, receipts, notifications, pairing IQs, …).
    Node(Node),
    /// An authenticated frame whose node did not decode; it was skipped.
    UndecodableNode(DecodeError),
    /// The connection ended.
    Disconnected(Disconnect),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum PendingKind {
    User,
    Keepalive,
}

enum State {
    AwaitServerHello(Box<InitiatorAwaitServerHello>),
    /// ClientFinish sent; waiting for `<success>` (or pairing IQs).
    AwaitLogin,
    LoggedIn,
    Closed,
}

/// The sans-IO client core.
///
/// Feed it received bytes and time with [`handle_input`](Self::handle_input),
/// drain [`poll_output`](Self::poll_output) after every call, and call again
/// with [`Input::Timeout`] at [`poll_timeout`](Self::poll_timeout).
pub struct ClientConnection {
    state: State,
    payload: Vec<u8>,
    timeouts: Timeouts,
    auto_ack: bool,
    encoder: FrameEncoder,
    decoder: FrameDecoder,
    transport: Option<Transport>,
    outputs: VecDeque<Output>,
    iq_prefix: String,
    iq_counter: u64,
    pending: HashMap<String, (u64, PendingKind)>,
    handshake_deadline: Option<u64>,
    next_ping: Option<u64>,
    last_keepalive: u64,
    missed_pings: u32,
    jitter: u64,
}

impl ClientConnection {
    /// Starts a connection at time `now` (unix ms): queues the ClientHello
    /// (with the intro header). `rng` supplies the ephemeral key, the IQ id
    /// prefix and the keepalive jitter.
    pub fn new(config: ClientConfig, now: u64, rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let ephemeral = KeyPair::generate(rng);
        let (handshake, hello) = noise::initiate(&config.handshake, config.noise_key, ephemeral);
        let mut encoder = FrameEncoder::new(config.routing_info.as_deref())
            .unwrap_or_else(|_| FrameEncoder::new(None).unwrap_or(FrameEncoder::without_intro()));
        let mut outputs = VecDeque::new();
        // A ClientHello is 36 bytes: far below the frame limit.
        if let Ok(bytes) = encoder.encode(&hello) {
            outputs.push_back(Output::Transmit(bytes));
        }
        let mut prefix = [0u8; 2];
        rng.fill_bytes(&mut prefix);
        Self {
            state: State::AwaitServerHello(Box::new(handshake)),
            payload: config.client_payload,
            handshake_deadline: Some(now.saturating_add(config.timeouts.handshake)),
            timeouts: config.timeouts,
            auto_ack: config.auto_ack,
            encoder,
            decoder: FrameDecoder::new(),
            transport: None,
            outputs,
            // whatsmeow's id format: two random bytes in decimal, then a counter.
            iq_prefix: format!("{}.{}-", prefix[0], prefix[1]),
            iq_counter: 0,
            pending: HashMap::new(),
            next_ping: None,
            last_keepalive: now,
            missed_pings: 0,
            jitter: rng.next_u64() | 1,
        }
    }

    /// Whether `<success>` arrived and the connection is still open.
    pub fn is_logged_in(&self) -> bool {
        matches!(self.state, State::LoggedIn)
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// The next queued output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When the core next needs an [`Input::Timeout`] (unix ms).
    pub fn poll_timeout(&self) -> Option<u64> {
        if self.is_closed() {
            return None;
        }
        let pending = self.pending.values().map(|(deadline, _)| *deadline);
        [self.handshake_deadline, self.next_ping]
            .into_iter()
            .flatten()
            .chain(pending)
            .min()
    }

    /// Processes received bytes or the passage of time. A peer error closes
    /// the connection (a `Disconnected` event is queued as well).
    pub fn handle_input(&mut self, input: Input<'_>) -> Result<(), ConnectionError> {
        if self.is_closed() {
            return Err(ConnectionError::Closed);
        }
        let result = match input {
            Input::Receive { now, data } => {
                self.decoder.push(data);
                self.drain_frames(now)
            }
            Input::Timeout { now } => {
                self.on_timeout(now);
                Ok(())
            }
        };
        if let Err(e) = &result {
            self.disconnect(Disconnect::ProtocolError(e.clone()));
        }
        result
    }

    /// Sends a node (allowed once the handshake completed, also before
    /// `<success>`, which registration needs).
    pub fn send_node(&mut self, node: &Node) -> Result<(), SendError> {
        let transport = match (&self.state, &mut self.transport) {
            (State::Closed, _) => return Err(SendError::Closed),
            (_, Some(t)) => t,
            (_, None) => return Err(SendError::NotReady),
        };
        let plaintext = encode_frame_plaintext(node)?;
        let ciphertext = transport.encrypt(&plaintext)?;
        let bytes = self.encoder.encode(&ciphertext)?;
        self.outputs.push_back(Output::Transmit(bytes));
        Ok(())
    }

    /// Sends an `<iq>`, giving it a fresh `id` (placed first) unless it has
    /// one, and waits for the answer until `now` + the IQ timeout. The answer
    /// comes as [`Event::IqResponse`] with the returned id.
    pub fn send_iq(&mut self, mut iq: Node, now: u64) -> Result<String, SendError> {
        let id = match iq.attrs().optional_string("id") {
            Some(id) => id,
            None => {
                let id = self.next_id();
                iq.attrs.insert(0, ("id".into(), id.clone().into()));
                id
            }
        };
        self.send_node(&iq)?;
        let deadline = now.saturating_add(self.timeouts.iq);
        self.pending
            .insert(id.clone(), (deadline, PendingKind::User));
        Ok(id)
    }

    /// Whether an IQ (the caller's or the keepalive's) awaits its answer: a shell that stops
    /// reading while it is behind must read on for it.
    pub fn awaits_answer(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Stops awaiting the answer to the IQ `id` (its caller gave up): no timeout is reported
    /// for it and [`awaits_answer`](Self::awaits_answer) no longer counts it; an answer that
    /// comes anyway is handed on as an [`Event::Node`]. False when no IQ sent with
    /// [`send_iq`](Self::send_iq) awaits that id (the keepalive's is never forgotten).
    pub fn forget_iq(&mut self, id: &str) -> bool {
        match self.pending.get(id) {
            Some((_, PendingKind::User)) => self.pending.remove(id).is_some(),
            _ => false,
        }
    }

    /// A fresh IQ id (`"<b0>.<b1>-<n>"`).
    pub fn next_id(&mut self) -> String {
        self.iq_counter += 1;
        format!("{}{}", self.iq_prefix, self.iq_counter)
    }

    /// Ends the connection from our side; pending IQs fail with `Disconnected`.
    pub fn close(&mut self) {
        if !self.is_closed() {
            self.disconnect(Disconnect::Closed);
        }
    }

    fn event(&mut self, event: Event) {
        self.outputs.push_back(Output::Event(event));
    }

    fn disconnect(&mut self, reason: Disconnect) {
        self.state = State::Closed;
        self.transport = None;
        self.handshake_deadline = None;
        self.next_ping = None;
        let mut ids: Vec<(String, PendingKind)> = self
            .pending
            .drain()
            .map(|(id, (_, kind))| (id, kind))
            .collect();
        ids.sort();
        for (id, kind) in ids {
            if kind == PendingKind::User {
                self.event(Event::IqResponse {
                    id,
                    result: Err(IqError::Disconnected),
                });
            }
        }
        self.event(Event::Disconnected(reason));
    }

    fn drain_frames(&mut self, now: u64) -> Result<(), ConnectionError> {
        while let Some(frame) = self.decoder.next_frame()? {
            if self.is_closed() {
                break;
            }
            self.on_frame(&frame, now)?;
        }
        Ok(())
    }

    fn on_frame(&mut self, frame: &[u8], now: u64) -> Result<(), ConnectionError> {
        match std::mem::replace(&mut self.state, State::Closed) {
            State::AwaitServerHello(handshake) => {
                let ready = handshake.read_server_hello(frame, now / 1000)?;
                let finished = ready.finish(&self.payload);
                self.payload = Vec::new();
                let bytes = self.encoder.encode(&finished.message)?;
                self.outputs.push_back(Output::Transmit(bytes));
                self.transport = Some(finished.transport);
                self.state = State::AwaitLogin;
                self.handshake_deadline = None;
                // Keepalive runs from the end of the handshake (whatsmeow `keepAliveLoop`).
                self.last_keepalive = now;
                self.next_ping = Some(self.ping_time(now));
                self.event(Event::HandshakeComplete {
                    server_static: finished.server_static,
                });
                Ok(())
            }
            state @ (State::AwaitLogin | State::LoggedIn) => {
                self.state = state;
                let transport = self.transport.as_mut().ok_or(ConnectionError::Closed)?;
                let plaintext = transport.decrypt(frame)?;
                // The frame is authenticated, so a node that does not decode is a
                // codec gap, not an attack: report it and keep the connection, as
                // whatsmeow's `handleFrame` (client.go) logs and skips such frames.
                match decode_frame_plaintext(&plaintext) {
                    Ok(node) => self.on_node(node, now),
                    Err(error) => self.event(Event::UndecodableNode(error)),
                }
                Ok(())
            }
            State::Closed => Ok(()),
        }
    }

    fn on_node(&mut self, node: Node, now: u64) {
        match node.tag.as_str() {
            "success" => {
                self.state = State::LoggedIn;
                self.event(Event::LoggedIn(Success::from_node(&node)));
            }
            "failure" => self.disconnect(Disconnect::LoginFailed(Failure::from_node(&node))),
            "stream:error" => {
                self.disconnect(Disconnect::StreamError(StreamError::from_node(&node)))
            }
            "xmlstreamend" => self.disconnect(Disconnect::StreamEnd),
            "iq" => self.on_iq(node, now),
            "ib" => self.on_ib(node),
            "receipt" | "notification" | "call" => {
                if self.auto_ack
                    && let Some(ack) = ack_for(&node, None)
                {
                    // An ack is small; failure here means the transport is
                    // exhausted, which the next send reports.
                    let _ = self.send_node(&ack);
                }
                self.event(Event::Node(node));
            }
            _ => self.event(Event::Node(node)),
        }
    }

    fn on_iq(&mut self, node: Node, now: u64) {
        let attrs = node.attrs();
        let kind = attrs.optional_string("type").unwrap_or_default();
        let id = attrs.optional_string("id");
        // Any `<iq>` whose id we wait on answers it, whatever its type (whatsmeow
        // `receiveResponse` runs before the handlers and looks at the id alone).
        if let Some(id) = &id
            && let Some((_, pending)) = self.pending.remove(id)
        {
            match pending {
                // Any answer proves the connection alive (whatsmeow `sendKeepAlive`).
                PendingKind::Keepalive => {
                    self.last_keepalive = now;
                    self.missed_pings = 0;
                    self.next_ping = Some(self.ping_time(now));
                }
                PendingKind::User => {
                    let result = match kind.as_str() {
                        "result" => Ok(node),
                        "error" => Err(iq_error(node)),
                        _ => Err(IqError::Unexpected { node }),
                    };
                    let id = id.clone();
                    self.event(Event::IqResponse { id, result });
                }
            }
            return;
        }
        // A server ping in any form whatsapp-rust answers (src/client/node_io.rs
        // `is_ping_request`, after WA Web; a server drops a connection that does not pong):
        // `type="get"` or no type, and the ping namespace or a `<ping>` child. whatsmeow
        // answers none (`handleIQ` takes pairing IQs only). An empty `type=""` is read as
        // no type. The pong goes back to the sender and carries its id if any. Any other
        // IQ goes to the shell as a node, never dropped here.
        if (kind.is_empty() || kind == "get")
            && (attrs.optional_str("xmlns") == Some("urn:xmpp:ping")
                || node.child("ping").is_some())
        {
            let to = node
                .attr_value("from")
                .cloned()
                .unwrap_or_else(|| crate::binary::Value::from(Jid::server_jid()));
            let pong = Node::new("iq")
                .attr("to", to)
                .attr_opt("id", id)
                .attr("type", "result");
            let _ = self.send_node(&pong);
            return;
        }
        self.event(Event::Node(node));
    }

    fn on_ib(&mut self, node: Node) {
        let mut handled = false;
        for child in node.child_nodes() {
            match child.tag.as_str() {
                "offline_preview" => {
                    handled = true;
                    self.event(Event::OfflinePreview {
                        count: child.attrs().optional_u64("count").ok().flatten(),
                        node: child.clone(),
                    });
                }
                "offline" => {
                    handled = true;
                    self.event(Event::OfflineSyncCompleted {
                        count: child.attrs().optional_u64("count").ok().flatten(),
                    });
                }
                "edge_routing" => {
                    if let Some(info) = child.child("routing_info").and_then(Node::content_bytes) {
                        handled = true;
                        self.event(Event::EdgeRouting(info.to_vec()));
                    }
                }
                _ => {}
            }
        }
        if !handled {
            self.event(Event::Node(node));
        }
    }

    fn on_timeout(&mut self, now: u64) {
        if self.handshake_deadline.is_some_and(|d| now >= d) {
            self.disconnect(Disconnect::HandshakeTimeout);
            return;
        }
        let mut expired: Vec<(String, PendingKind)> = self
            .pending
            .iter()
            .filter(|(_, (deadline, _))| now >= *deadline)
            .map(|(id, (_, kind))| (id.clone(), *kind))
            .collect();
        expired.sort();
        for (id, kind) in expired {
            self.pending.remove(&id);
            match kind {
                PendingKind::User => self.event(Event::IqResponse {
                    id,
                    result: Err(IqError::Timeout),
                }),
                PendingKind::Keepalive => {
                    self.missed_pings += 1;
                    self.event(Event::KeepaliveMissed {
                        consecutive: self.missed_pings,
                    });
                    if now.saturating_sub(self.last_keepalive) >= self.timeouts.keepalive_dead {
                        self.disconnect(Disconnect::KeepaliveTimeout);
                        return;
                    }
                    self.next_ping = Some(self.ping_time(now));
                }
            }
        }
        if self.next_ping.is_some_and(|t| now >= t) {
            self.next_ping = None;
            let id = self.next_id();
            let ping = Node::new("iq")
                .attr("id", id.clone())
                .attr("xmlns", "w:p")
                .attr("type", "get")
                .attr("to", Jid::server_jid());
            if self.send_node(&ping).is_ok() {
                let deadline = now.saturating_add(self.timeouts.keepalive_reply);
                self.pending.insert(id, (deadline, PendingKind::Keepalive));
            }
        }
    }

    /// `now` + a random pause in [keepalive_min, keepalive_max).
    fn ping_time(&mut self, now: u64) -> u64 {
        // xorshift64*: jitter needs no cryptographic quality.
        self.jitter ^= self.jitter >> 12;
        self.jitter ^= self.jitter << 25;
        self.jitter ^= self.jitter >> 27;
        let r = self.jitter.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let span = self
            .timeouts
            .keepalive_max
            .saturating_sub(self.timeouts.keepalive_min);
        let pause =
            self.timeouts
                .keepalive_min
                .saturating_add(if span == 0 { 0 } else { r % span });
        now.saturating_add(pause)
    }
}

impl std::fmt::Debug for ClientConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            State::AwaitServerHello(_) => "AwaitServerHello",
            State::AwaitLogin => "AwaitLogin",
            State::LoggedIn => "LoggedIn",
            State::Closed => "Closed",
        };
        f.debug_struct("ClientConnection")
            .field("state", &state)
            .field("pending_iqs", &self.pending.len())
            .finish_non_exhaustive()
    }
}

fn iq_error(node: Node) -> IqError {
    let error = node.child("error");
    IqError::Server {
        code: error
            .and_then(|e| e.attrs().optional_u64("code").ok().flatten())
            .unwrap_or(0),
        text: error.and_then(|e| e.attrs().optional_string("text")),
        node,
    }
}

/// The `<ack>` a client owes for a stanza (whatsmeow `receipt.go` `sendAck`):
/// `class` = the stanza's tag, `id`, `to` = its `from`, `participant` and
/// `recipient` copied, `type` copied for non-message stanzas, and `error` for
/// a nack. `None` when the stanza has no `id` or `from`.
///
/// ```
/// use whatsapp_proto::binary::Node;
/// use whatsapp_proto::connection::ack_for;
/// let receipt = Node::new("receipt").attr("id", "ABC").attr("from", "1@s.whatsapp.net").attr("type", "read");
/// let ack = ack_for(&receipt, None).unwrap();
/// assert_eq!(ack.attrs().str("class").unwrap(), "receipt");
/// assert_eq!(ack.attrs().str("type").unwrap(), "read");
/// ```
pub fn ack_for(stanza: &Node, error: Option<u16>) -> Option<Node> {
    crate::receive::stanza::ack(stanza, error)
}
