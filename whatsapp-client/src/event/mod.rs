//! What the client tells the application.

use std::time::Duration;

use tokio::sync::mpsc;
use whatsapp_proto::binary::Node;
use whatsapp_proto::content::{self, MessageContent, Wrappers};
use whatsapp_proto::jid::Jid;
use whatsapp_proto::pb::e2e;

mod appstate;
mod call;
mod group;
mod history;
mod poll;
mod qr;
mod unavailable;

pub use appstate::{AppStateEvent, AppStateMutation};
pub use call::{CallAction, CallEvent, CallMedia};
pub use group::GroupChangeEvent;
pub use history::{HistoryBatch, HistoryConversation, HistoryMessage};
pub use poll::{PollVote, option_hash};
pub use qr::{QrCode, QrRenderError};
pub use unavailable::{UnavailableKind, UnavailableMessage};

/// Why this device is no longer logged in.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogoutReason {
    /// `<failure reason="401">`: logged out from the phone.
    LoggedOut,
    /// `<stream:error code="401"><conflict type="device_removed"/>`.
    DeviceRemoved,
    /// `<failure reason="403">`: the main device is gone.
    MainDeviceGone,
    /// `<failure reason="406">`: unknown logout (WA Web: banned).
    Banned,
    /// We unlinked ourselves with [`crate::Client::logout`].
    UserInitiated,
}

/// An event of the client. Delivered in order through [`EventStream`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// A QR code to show (a new one replaces the previous one).
    Qr(QrCode),
    /// The QR codes ran out without a scan; the client stopped.
    QrTimeout,
    /// The phone linked this device; a reconnect and login follow.
    PairSuccess {
        /// Our new device JID (phone number).
        jid: Jid,
        /// Our LID device JID, if the server gave one.
        lid: Option<Jid>,
        /// The primary's platform.
        platform: String,
        /// The business name, if any.
        business_name: Option<String>,
    },
    /// A `pair-success` was refused (bad HMAC or signature) or could not be completed; the
    /// client answered with an error and stops, as whatsmeow disconnects after a pairing
    /// error ([`Event::Stopped`] follows): start it again for a new QR code.
    PairError {
        /// Why.
        reason: String,
    },
    /// Logged in and active: messages flow.
    Connected,
    /// The server logged this device out; the session was wiped from the store.
    LoggedOut {
        /// Why.
        reason: LogoutReason,
    },
    /// Another connection took over this device; the client stopped and will not reconnect.
    StreamReplaced,
    /// The account is temporarily banned; the client stopped.
    TemporaryBan {
        /// The ban code (101 too many people, 102 blocked, 103 groups, 104 same message, 106
        /// broadcast list).
        code: Option<u64>,
        /// Time until the ban ends.
        expires: Option<Duration>,
    },
    /// The server refused the login for a reason that needs a person (outdated client, bad
    /// user agent, …); the client stopped.
    ConnectFailure {
        /// The `<failure reason>`.
        code: u64,
        /// The optional message.
        message: Option<String>,
    },
    /// The connection ended; `reconnect_in` says when the supervisor tries again (`None` when
    /// it does not).
    Disconnected {
        /// Why, in words.
        reason: String,
        /// The pause before the next attempt.
        reconnect_in: Option<Duration>,
    },
    /// A keepalive ping went unanswered (whatsmeow `events.KeepAliveTimeout`). After
    /// `Config::timeouts.keepalive_dead` without an answered ping the connection is dropped
    /// and [`Event::Disconnected`] follows, with a reconnect.
    KeepAliveTimeout {
        /// Pings missed in a row.
        consecutive: u32,
    },
    /// The offline queue has been delivered.
    OfflineSyncCompleted {
        /// Number of stanzas the server says it delivered.
        count: Option<u64>,
    },
    /// A decrypted message. Call [`IncomingMessage::ack`] once it is stored: only then does
    /// the client send the delivery receipt that lets the server forget it.
    Message(Box<IncomingMessage>),
    /// A message that could not be decrypted (it was acknowledged; the sender may retry).
    UndecryptableMessage {
        /// Stanza details.
        info: MessageInfo,
        /// Why.
        reason: String,
    },
    /// A contact's identity key changed (they reinstalled WhatsApp or changed phones). The new
    /// key is trusted, as WhatsApp's own clients do; show it as "security code changed".
    ///
    /// It comes from a prekey message or bundle with a new identity (`jid` is that device),
    /// and from the server's identity-change notification (`<notification type="encrypt">`
    /// with `<identity/>`; `jid` is the user, device 0), which also makes the client forget
    /// the user's sessions, identities and device list so the next message goes to the new
    /// install. The notification reports only users we held keys for.
    IdentityChanged {
        /// The device whose key changed, named as its Signal records are kept: its LID
        /// device once the contact's LID is known (the user, for the notification).
        jid: Jid,
    },
    /// A contact came online or went offline (after [`crate::Client::subscribe_presence`]).
    Presence {
        /// The contact.
        from: Jid,
        /// Online now.
        available: bool,
        /// Last seen (unix seconds), when shared.
        last_seen: Option<u64>,
    },
    /// A contact is typing, recording or stopped (`composing`, `paused`; `media="audio"` for
    /// recording).
    ChatState {
        /// The chat.
        chat: Jid,
        /// Who types (differs from `chat` in groups).
        sender: Jid,
        /// `true` while composing, `false` when paused.
        composing: bool,
        /// Recording a voice note rather than typing.
        audio: bool,
    },
    /// A receipt for a message we sent (delivered, read, played, …).
    Receipt(ReceiptEvent),
    /// App-state sync: a verified change (contact name, archive, mute, pin, read, label…), a
    /// collection synced, or a sync refused (see [`crate::appstate`]).
    AppState(AppStateEvent),
    /// A chunk of the history our phone shares after linking or on request (see
    /// [`crate::history`]).
    HistorySync(Box<HistoryBatch>),
    /// Participants were added to, removed from, promoted or demoted in a group (a `w:gp2`
    /// notification; whatsmeow `events.GroupInfo`). On a removal the client has already
    /// dropped its sender key for the group: the next message there goes out under a new
    /// key that only the remaining participants' devices receive.
    GroupParticipants(GroupParticipantsEvent),
    /// A group was created with us in it, renamed, its description, settings or invite link
    /// changed, a group linked to or unlinked from a community, or it was deleted (a `w:gp2`
    /// notification; see [`GroupChangeEvent`]).
    GroupChange(Box<GroupChangeEvent>),
    /// The client stopped for good (after [`crate::Client::shutdown`] or a terminal event).
    Stopped,
    /// A message this device was not given (`<unavailable>`): a placeholder to show. Call
    /// [`UnavailableMessage::ack`] once it is stored.
    Unavailable(Box<UnavailableMessage>),
    /// A poll vote, decrypted with its poll's message secret. Call
    /// [`PollVote::ack`] once it is stored. A vote that cannot be opened (its poll's
    /// secret unknown) comes as an [`Event::Message`] instead.
    PollVote(Box<PollVote>),
    /// A call offered, answered, rejected, ended or missed (see [`CallEvent`]); the
    /// `<call>` stanza was acknowledged on arrival.
    Call(Box<CallEvent>),
    /// A protocol message the client consumed and acknowledged itself: nothing for the
    /// application to store, told so that it can count what was acknowledged without it.
    ProtocolConsumed(ConsumedProtocol),
}

/// What kind of protocol message the client consumed (see [`Event::ProtocolConsumed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConsumedProtocol {
    /// Our phone's app-state key share.
    AppStateKeyShare,
    /// Our phone's history-sync notification.
    HistoryNotification,
    /// A key share or history notification from anyone but our phone: refused, acknowledged.
    Refused,
    /// A message carrying nothing but a sender key distribution (or a duplicate of one).
    SenderKeyDistribution,
}

/// What happened to a group's participants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParticipantAction {
    /// Added (or joined by invite).
    Added,
    /// Removed by an admin, or left.
    Removed,
    /// Made admins.
    Promoted,
    /// No longer admins.
    Demoted,
    /// Joined through an invite link (an `<add reason="invite">`).
    JoinedByLink,
}

/// A change of a group's participants.
///
/// ```
/// # use whatsapp_client::{Event, ParticipantAction};
/// # fn handle(event: Event) {
/// if let Event::GroupParticipants(change) = event {
///     if change.action == ParticipantAction::Removed {
///         println!("{} left {}", change.participants.len(), change.group);
///     }
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupParticipantsEvent {
    /// The group.
    pub group: Jid,
    /// What happened.
    pub action: ParticipantAction,
    /// Whom it happened to (as the group addresses them: phone numbers or LIDs).
    pub participants: Vec<Jid>,
    /// Who made the change, when the server says.
    pub by: Option<Jid>,
    /// Server timestamp, unix seconds.
    pub timestamp: u64,
}

/// Who sent a message, where, and when (the receive core's type).
pub use whatsapp_proto::receive::MessageInfo;

/// A decrypted message, waiting for the application to acknowledge it.
///
/// `message` is the message with its wrappers looked through (our other devices'
/// `deviceSentMessage`, disappearing, view-once, document-with-caption, edit, …, at most
/// [`whatsapp_proto::content::MAX_UNWRAP_DEPTH`] levels); `content` is what it carries,
/// typed, with the wrappers it came in; `raw` is the message as decrypted.
#[derive(Debug)]
pub struct IncomingMessage {
    /// Stanza details.
    pub info: MessageInfo,
    /// The unwrapped message (sender-key distribution removed, the outer
    /// `messageContextInfo` kept when the inner message has none, as whatsmeow does).
    pub message: e2e::Message,
    /// What the message carries, its context and its wrapper flags.
    pub content: MessageContent,
    /// The message as decrypted, wrappers included.
    pub raw: e2e::Message,
    pub(crate) ack: Option<AckHandle>,
}

impl IncomingMessage {
    /// The text of a plain or extended text message.
    pub fn text(&self) -> Option<&str> {
        content::text(&self.message)
    }

    /// The wrappers the message came in.
    pub fn wrappers(&self) -> Wrappers {
        self.content.wrappers
    }

    /// Acknowledges the message after the application committed it: the client sends the
    /// delivery receipt, and the server will not deliver it again. Dropping the message
    /// without acknowledging it means it is delivered again after the next reconnect.
    pub fn ack(&mut self) {
        if let Some(handle) = self.ack.take() {
            handle.send();
        }
    }
}

/// The text of a plain or extended text message (not a caption), its wrappers looked
/// through (see [`whatsapp_proto::content::unwrap`]).
pub fn message_text(message: &e2e::Message) -> Option<&str> {
    content::text(content::unwrap(message).message)
}

/// Sends a stanza (the receipt) through the driver when the application acknowledges.
#[derive(Debug)]
pub(crate) struct AckHandle {
    pub(crate) node: Node,
    pub(crate) to: mpsc::UnboundedSender<Node>,
}

impl AckHandle {
    pub(crate) fn send(self) {
        // If the driver has gone, the stanza is redelivered on the next connection.
        let _ = self.to.send(self.node);
    }
}

/// A receipt for messages we sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptEvent {
    /// The message ids it covers.
    pub ids: Vec<String>,
    /// The chat.
    pub chat: Jid,
    /// The device that sent the receipt.
    pub sender: Jid,
    /// The `type` attribute: empty for delivered, `read`, `played`, `sender`, `retry`, …
    pub kind: String,
    /// Server timestamp, unix seconds.
    pub timestamp: u64,
}

/// The stream of events of one client.
#[derive(Debug)]
pub struct EventStream {
    pub(crate) rx: mpsc::Receiver<Event>,
}

impl EventStream {
    /// The next event; `None` after the client stopped and every event was read.
    pub async fn recv(&mut self) -> Option<Event> {
        self.rx.recv().await
    }

    /// Waits for the next event, then also takes every event already waiting, up to `limit`
    /// in all, appending them to `buffer`; returns how many were added (0 once the client
    /// stopped and every event was read). A handler that commits what it took in one
    /// transaction and then acknowledges each message pays one commit per batch: the offline
    /// queue after a reconnect arrives in groups.
    ///
    /// ```no_run
    /// # async fn f(mut events: whatsapp_client::EventStream) {
    /// use whatsapp_client::Event;
    /// let mut batch = Vec::new();
    /// while events.recv_many(&mut batch, 64).await > 0 {
    ///     let mut messages: Vec<_> = batch
    ///         .drain(..)
    ///         .filter_map(|e| match e {
    ///             Event::Message(m) => Some(m),
    ///             _ => None,
    ///         })
    ///         .collect();
    ///     // ... commit `messages` in one transaction, keyed by `m.info.id` ...
    ///     messages.iter_mut().for_each(|m| m.ack());
    /// }
    /// # }
    /// ```
    pub async fn recv_many(&mut self, buffer: &mut Vec<Event>, limit: usize) -> usize {
        self.rx.recv_many(buffer, limit).await
    }
}

impl futures_util::Stream for EventStream {
    type Item = Event;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Event>> {
        self.rx.poll_recv(cx)
    }
}
