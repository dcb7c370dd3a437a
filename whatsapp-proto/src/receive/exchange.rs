//! What the receive core and its shell exchange: the records it asks for, the inputs that
//! answer it, the outputs it gives, and what a message delivered to the application.

use crate::binary::Node;
use crate::jid::Jid;

use super::{Changes, MessageInfo, Received};

/// A record the core needs, named as the store names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RecordKey {
    /// The session record of a Signal address (`user[_agent].device`).
    Session(String),
    /// The identity key (32 bytes) stored for a Signal address.
    Identity(String),
    /// A one-time prekey record, by id.
    PreKey(u32),
    /// The sender key record of `sender` (a Signal address) in `group` (a JID as text).
    SenderKey {
        /// The group.
        group: String,
        /// The sender's Signal address.
        sender: String,
    },
    /// A plaintext decrypted and committed before, by [`ciphertext_hash`](super::ciphertext_hash).
    Plaintext([u8; 32]),
    /// The LID user (UTF-8) of a phone number user.
    LidForPn(String),
    /// The phone number user (UTF-8) of a LID user.
    PnForLid(String),
    /// Not a record but a step the shell takes before the core goes on: move the sessions,
    /// identities and sender keys of every device of the phone-number user `pn` to the LID
    /// user `lid` in the store (whatsmeow `MigratePNToLID`), then answer
    /// `Loaded(key, None)`. Asked once per group and sender, before the core loads the
    /// sender's records under its LID.
    LidMigration {
        /// The phone-number user.
        pn: String,
        /// Its LID user.
        lid: String,
    },
    /// The `<keys>` of a retry receipt, with a fresh one-time prekey that the answerer has
    /// stored and marked uploaded: answered with [`Input::RetryKeys`].
    RetryKeys,
}

/// What the shell answers.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Input {
    /// The record asked for, `None` when the store has none.
    Loaded(RecordKey, Option<Vec<u8>>),
    /// The `<keys>` node asked for with [`RecordKey::RetryKeys`].
    RetryKeys(Node),
    /// The store could not answer: the message is left unacknowledged (a missing PN/LID
    /// mapping is only a missing detail, and is read as `None`).
    LoadFailed(RecordKey),
}

/// What the core asks of the shell.
// Outputs live briefly in one queue; boxing the large deliveries would cost an allocation
// per message for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
#[non_exhaustive]
pub enum Output {
    /// Load a record and answer with [`Input::Loaded`].
    Load(RecordKey),
    /// Write these changes in one transaction (the group's end, [`Receiver::finish`](super::Receiver::finish)).
    Commit(Changes),
    /// Send this stanza once the group is committed.
    Send(Node),
    /// Hand this to the application once the group is committed.
    Deliver(Delivery),
    /// The message `id` stays unacknowledged: a load failed, and the server will deliver it
    /// again (after a reconnect).
    Unacknowledged {
        /// The message id.
        id: String,
        /// The record that could not be loaded.
        key: RecordKey,
    },
}

/// What a message gave the application.
#[derive(Debug)]
#[non_exhaustive]
pub enum Delivery {
    /// A decrypted message with something to show.
    Message(Box<Received>),
    /// A message that carried nothing for the application (a sender key distribution only,
    /// or a duplicate); its receipt is already among the sends.
    Consumed(MessageInfo),
    /// A message that could not be decrypted (a retry receipt was sent unless the limit
    /// was reached) or whose plaintext is not a message.
    Undecryptable {
        /// Who sent it.
        info: MessageInfo,
        /// Why, for the log.
        reason: String,
    },
    /// `<unavailable>` instead of `<enc>`: the phone holds the message.
    Unavailable {
        /// Who sent it.
        info: MessageInfo,
        /// The `<unavailable>` child.
        unavailable: Node,
        /// The ack to send once the application stored the placeholder (a view-once
        /// message); `None` when the ack is already among the sends and the phone should be
        /// asked to resend the message.
        deferred_ack: Option<Node>,
    },
    /// A prekey message came under a new identity, now trusted (the peer reinstalled). The
    /// device is named as its records are kept: its LID device when the sender's LID is known.
    IdentityChanged(Jid),
}
