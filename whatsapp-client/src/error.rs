//! The client's error type.

use whatsapp_proto::binary::Node;

use crate::store::StoreError;

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Not logged in right now (the supervisor may be reconnecting).
    #[error("not connected")]
    NotConnected,
    /// The client was shut down.
    #[error("the client has stopped")]
    Stopped,
    /// This device already has a running client in this process (one socket per device).
    #[error("a client for this device is already running")]
    AlreadyRunning,
    /// The server answered an IQ with `type="error"`.
    #[error("server error {code}: {text}")]
    Server {
        /// `<error code>`.
        code: u64,
        /// `<error text>`.
        text: String,
    },
    /// The server refused a 1:1 message with error 463: we hold no valid privacy token from
    /// the recipient (they never wrote to this account, or not in the last four weeks) and
    /// the account may not start a chat with them now (part 2 §4.7, §11). Permanent: every
    /// retry counts as another reach-out to a stranger (Baileys `messages-recv.ts` never
    /// retries it). The recipient writing first issues us a token.
    #[error("the server refused the message (463): the recipient has not written to this account")]
    NewChatRefused {
        /// The refused message's id.
        id: String,
    },
    /// The server refused a sent message (`<ack error=…>`), e.g. 479; 463 is
    /// [`ClientError::NewChatRefused`].
    #[error("server refused the message with error {code}")]
    MessageRefused {
        /// The `error` attribute.
        code: u64,
    },
    /// No answer in time.
    #[error("timed out waiting for the server")]
    Timeout,
    /// The connection ended while waiting.
    #[error("disconnected while waiting for the server")]
    Disconnected,
    /// The server's answer does not have the expected form.
    #[error("unexpected answer: {reason}")]
    UnexpectedResponse {
        /// What is wrong.
        reason: String,
        /// The node.
        node: Box<Node>,
    },
    /// A caller-chosen message id does not have the form WhatsApp's clients use.
    #[error("invalid message id {id:?}: {reason}")]
    InvalidMessageId {
        /// The id (cut to 80 characters).
        id: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The caller passed something unusable.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Signal encryption or decryption failed.
    #[error("signal: {0}")]
    Signal(#[from] whatsapp_proto::signal::SignalError),
    /// A media download or upload failed: refused, too large, timed out, an HTTP or
    /// verification failure ([`crate::TransferError`]).
    #[error("media transfer: {0}")]
    Transfer(#[from] crate::TransferError),
    /// A node could not be sent.
    #[error("send: {0}")]
    Send(#[from] whatsapp_proto::connection::SendError),
    /// An app-state snapshot or patch was refused (a MAC or LTHash mismatch, a missing key, a
    /// malformed record); nothing of it was applied.
    #[error("app state: {0}")]
    AppState(#[from] whatsapp_proto::appstate::AppStateError),
    /// A history-sync blob could not be inflated or parsed.
    #[error("history sync: {0}")]
    History(whatsapp_proto::appstate::history::HistoryError),
}

impl ClientError {
    pub(crate) fn unexpected(reason: impl Into<String>, node: &Node) -> ClientError {
        ClientError::UnexpectedResponse {
            reason: reason.into(),
            node: Box::new(node.clone()),
        }
    }
}
