//! Native WhatsApp Web multi-device client: the tokio shell around `whatsapp-proto`.
//!
//! One [`Client`] drives one device (one linked companion of a WhatsApp account). It pairs
//! by QR code or phone code, logs in, keeps the connection alive (keepalive, reconnect with
//! capped backoff and jitter, restart after pairing), uploads prekeys, and receives and sends
//! messages: 1:1 and groups, text and media. Everything durable lives in a [`store::Store`] — [`store::SqliteStore`]
//! in its own SQLite file (mode 0600 on unix), or [`store::MemoryStore`] in tests.
//!
//! # Quick start
//!
//! ```no_run
//! use std::sync::Arc;
//! use whatsapp_client::{Client, Config, Event, store::SqliteStore};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = Arc::new(SqliteStore::open("whatsapp-session.db").await?);
//! let (client, mut events) = Client::start(store, Config::default()).await?;
//! while let Some(event) = events.recv().await {
//!     match event {
//!         Event::Qr(qr) => println!("{}", qr.render_terminal()?),
//!         Event::PairSuccess { jid, .. } => println!("linked as {jid}"),
//!         Event::Connected => println!("online"),
//!         Event::Message(mut message) => {
//!             println!("{}: {:?}", message.info.sender, message.text());
//!             // Store it first; then acknowledge so the server forgets it.
//!             message.ack();
//!         }
//!         Event::LoggedOut { reason } => println!("logged out: {reason:?}"),
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! # Delivery guarantee
//!
//! A message is committed to the store (session state and plaintext, one transaction) before
//! [`Event::Message`] is emitted, and the receipt that lets the server drop it is sent only
//! when the application calls [`IncomingMessage::ack`]. A crash before the ack means the
//! server delivers it again; the client then hands over the stored plaintext without
//! decrypting twice. Applications deduplicate by [`MessageInfo::id`].

pub mod appstate;
mod call;
mod client;
mod clock;
mod config;
mod context;
mod decrypt;
mod devices;
mod driver;
mod error;
mod event;
mod groups;
pub mod history;
mod http;
mod learned;
mod login;
mod media;
mod message_id;
#[cfg(test)]
mod module_graph_tests;
mod notification;
mod own_phone;
mod pair;
mod peer;
mod placeholder;
mod poll;
mod presence;
mod receipt;
mod receive;
#[cfg(test)]
mod receive_tests;
mod recent;
mod retry;
mod send;
#[cfg(test)]
mod stanza_tests;
pub mod store;

pub use client::{Backlog, Client};
pub use config::{Config, DEFAULT_MEDIA_MAX_BYTES, DEFAULT_ORIGIN, DEFAULT_URL, ReconnectPolicy};
pub use error::ClientError;
pub use event::{CallAction, CallEvent, CallMedia};
pub use event::{
    ConsumedProtocol, Event, EventStream, GroupParticipantsEvent, IncomingMessage, LogoutReason,
    MessageInfo, ParticipantAction, ReceiptEvent, message_text,
};
pub use event::{PollVote, option_hash};
pub use event::{QrCode, QrRenderError};
pub use event::{UnavailableKind, UnavailableMessage};
pub use http::{
    BoxFuture, Connect, Connector, HttpTimeouts, MediaStream, TcpConnect, TransferError,
};
pub use media::{
    DEFAULT_MEDIA_HOST, ENCRYPTION_OVERHEAD, MediaKind, MediaRef, OutgoingMedia,
    validate_direct_path,
};
pub use message_id::{generate_message_id, validate_message_id};
pub use whatsapp_proto::binary::Node;
pub use whatsapp_proto::content;
pub use whatsapp_proto::content::{Content, MessageContent, Wrappers};
pub use whatsapp_proto::jid::Jid;
pub use whatsapp_proto::media::MediaType;
pub use whatsapp_proto::pb::e2e;
