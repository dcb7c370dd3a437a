//! The sans-IO connection core: handshake, login, IQs, keepalive and stream events.
//!
//! Shaped like str0m: the driver feeds received bytes and the time with
//! `handle_input`, drains `poll_output` (bytes to send, events), and calls
//! back with `Input::Timeout` at `poll_timeout`. No sockets, no clock, no
//! ambient randomness; times are unix milliseconds.
//!
//! [`ClientConnection`] runs the Noise initiator, then the login
//! (`<success>` / `<failure>`), IQ correlation and timeouts, keepalive pings,
//! server pings, the acks a client owes and the offline-queue markers.
//! [`ServerConnection`] is the matching responder core for a simulated server.
//!
//! ```
//! use rand_chacha::rand_core::SeedableRng;
//! use whatsapp_proto::binary::Node;
//! use whatsapp_proto::connection::*;
//! use whatsapp_proto::noise::{cert::{self, CertDetails}, HandshakeConfig};
//! use whatsapp_proto::xeddsa::KeyPair;
//!
//! let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
//! let (root, inter, server_key) = (KeyPair::generate(&mut rng), KeyPair::generate(&mut rng), KeyPair::generate(&mut rng));
//! let i = CertDetails { serial: 1, issuer_serial: 0, key: *inter.public(), not_before: 0, not_after: u64::MAX };
//! let l = CertDetails { serial: 2, issuer_serial: 1, key: *server_key.public(), not_before: 0, not_after: u64::MAX };
//! let chain = cert::build_cert_chain(&root, &i, &inter, &l, &mut rng);
//! let handshake = HandshakeConfig::default().with_root_key(*root.public());
//!
//! let now = 1_700_000_000_000;
//! let mut config = ClientConfig::new(KeyPair::generate(&mut rng), b"payload".to_vec());
//! config.handshake = handshake.clone();
//! let mut client = ClientConnection::new(config, now, &mut rng);
//! let mut server = ServerConnection::new(&handshake, server_key, KeyPair::generate(&mut rng), chain);
//!
//! // Shuttle bytes until the server has the client's payload.
//! let mut payload = None;
//! for _ in 0..3 {
//!     while let Some(out) = client.poll_output() {
//!         if let Output::Transmit(bytes) = out { server.handle_input(&bytes)?; }
//!     }
//!     while let Some(out) = server.poll_output() {
//!         match out {
//!             ServerOutput::Transmit(bytes) => client.handle_input(Input::Receive { now, data: &bytes })?,
//!             ServerOutput::ClientFinished { payload: p, .. } => payload = Some(p),
//!             _ => {}
//!         }
//!     }
//! }
//! assert_eq!(payload.as_deref(), Some(&b"payload"[..]));
//! server.send_node(&Node::new("success").attr("t", "1700000000"))?;
//! while let Some(ServerOutput::Transmit(bytes)) = server.poll_output() {
//!     client.handle_input(Input::Receive { now, data: &bytes })?;
//! }
//! assert!(client.is_logged_in());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod client;
mod server;
mod stream;

pub use client::{
    ClientConfig, ClientConnection, Disconnect, Event, Input, IqError, Output, Timeouts, ack_for,
};
pub use server::{ServerConnection, ServerOutput};
pub use stream::{Failure, FailureReason, StreamError, Success};

use crate::binary::{DecodeError, EncodeError};
use crate::frame::FrameError;
use crate::noise::{HandshakeError, TransportError};

/// Something the peer sent could not be accepted; the connection is over.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// Bad framing (e.g. an oversized frame, or a missing intro on the server).
    #[error("framing: {0}")]
    Frame(#[from] FrameError),
    /// The handshake failed (includes certificate refusals).
    #[error("handshake: {0}")]
    Handshake(#[from] HandshakeError),
    /// A frame did not decrypt.
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
    /// A decrypted frame is not a valid node (server core only; the client
    /// reports it as `Event::UndecodableNode` and carries on).
    #[error("node: {0}")]
    Decode(#[from] DecodeError),
    /// Input arrived after the connection ended.
    #[error("the connection is closed")]
    Closed,
}

/// A node could not be sent; the caller's problem, the connection stays as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The handshake has not finished yet.
    #[error("the handshake has not finished")]
    NotReady,
    /// The connection has ended.
    #[error("the connection is closed")]
    Closed,
    /// The node cannot be encoded.
    #[error("encode: {0}")]
    Encode(#[from] EncodeError),
    /// The frame would be too large.
    #[error("frame: {0}")]
    Frame(#[from] FrameError),
    /// The write counter is exhausted: reconnect.
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
}
