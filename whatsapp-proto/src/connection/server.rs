//! The server side of a connection, for a simulated server: Noise responder,
//! then encrypted nodes. No timers: a test server drives time itself.

use std::collections::VecDeque;

use super::{ConnectionError, SendError};
use crate::binary::{Node, decode_frame_plaintext, encode_frame_plaintext};
use crate::frame::{FrameDecoder, FrameEncoder};
use crate::noise::{
    self, HandshakeConfig, ResponderAwaitClientFinish, ResponderAwaitClientHello, Transport,
};
use crate::xeddsa::KeyPair;

/// What the server core asks of its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerOutput {
    /// Send these bytes as one binary WebSocket message.
    Transmit(Vec<u8>),
    /// The handshake completed: the client's static key and its decrypted
    /// (still serialized) ClientPayload; decide on `<success>` or `<failure>`.
    ClientFinished {
        /// The client's static (noise) key.
        client_static: [u8; 32],
        /// The serialized ClientPayload.
        payload: Vec<u8>,
    },
    /// A node from the client.
    Node(Node),
}

enum State {
    AwaitHello(Box<ResponderAwaitClientHello>),
    AwaitFinish(Box<ResponderAwaitClientFinish>),
    Open,
    Closed,
}

/// The sans-IO responder core.
pub struct ServerConnection {
    state: State,
    cert_chain: Vec<u8>,
    encoder: FrameEncoder,
    decoder: FrameDecoder,
    transport: Option<Transport>,
    outputs: VecDeque<ServerOutput>,
}

impl ServerConnection {
    /// A server connection with its static key (the one `cert_chain`'s leaf
    /// certifies), a fresh ephemeral key and the serialized chain to send.
    pub fn new(
        config: &HandshakeConfig,
        static_key: KeyPair,
        ephemeral: KeyPair,
        cert_chain: Vec<u8>,
    ) -> Self {
        Self {
            state: State::AwaitHello(Box::new(noise::respond(config, static_key, ephemeral))),
            cert_chain,
            encoder: FrameEncoder::without_intro(),
            decoder: FrameDecoder::server(),
            transport: None,
            outputs: VecDeque::new(),
        }
    }

    /// Processes bytes from the client. An error closes the connection.
    pub fn handle_input(&mut self, data: &[u8]) -> Result<(), ConnectionError> {
        if matches!(self.state, State::Closed) {
            return Err(ConnectionError::Closed);
        }
        self.decoder.push(data);
        let result = self.drain();
        if result.is_err() {
            self.state = State::Closed;
            self.transport = None;
        }
        result
    }

    fn drain(&mut self) -> Result<(), ConnectionError> {
        while let Some(frame) = self.decoder.next_frame()? {
            match std::mem::replace(&mut self.state, State::Closed) {
                State::AwaitHello(hs) => {
                    let (next, hello) = hs
                        .read_client_hello(&frame)?
                        .write_server_hello(&self.cert_chain);
                    let bytes = self.encoder.encode(&hello)?;
                    self.outputs.push_back(ServerOutput::Transmit(bytes));
                    self.state = State::AwaitFinish(Box::new(next));
                }
                State::AwaitFinish(hs) => {
                    let done = hs.read_client_finish(&frame)?;
                    self.transport = Some(done.transport);
                    self.outputs.push_back(ServerOutput::ClientFinished {
                        client_static: done.client_static,
                        payload: done.payload,
                    });
                    self.state = State::Open;
                }
                State::Open => {
                    self.state = State::Open;
                    let transport = self.transport.as_mut().ok_or(ConnectionError::Closed)?;
                    let plaintext = transport.decrypt(&frame)?;
                    let node = decode_frame_plaintext(&plaintext)?;
                    self.outputs.push_back(ServerOutput::Node(node));
                }
                State::Closed => return Err(ConnectionError::Closed),
            }
        }
        Ok(())
    }

    /// Sends a node to the client (after the handshake).
    pub fn send_node(&mut self, node: &Node) -> Result<(), SendError> {
        let transport = match (&self.state, &mut self.transport) {
            (State::Closed, _) => return Err(SendError::Closed),
            (State::Open, Some(t)) => t,
            _ => return Err(SendError::NotReady),
        };
        let plaintext = encode_frame_plaintext(node)?;
        let ciphertext = transport.encrypt(&plaintext)?;
        let bytes = self.encoder.encode(&ciphertext)?;
        self.outputs.push_back(ServerOutput::Transmit(bytes));
        Ok(())
    }

    /// Encrypts and sends an arbitrary frame plaintext (flags byte + node
    /// bytes, or anything else), to test how a client copes with bad nodes.
    #[doc(hidden)]
    pub fn send_plaintext(&mut self, plaintext: &[u8]) -> Result<(), SendError> {
        let transport = match (&self.state, &mut self.transport) {
            (State::Open, Some(t)) => t,
            _ => return Err(SendError::NotReady),
        };
        let ciphertext = transport.encrypt(plaintext)?;
        let bytes = self.encoder.encode(&ciphertext)?;
        self.outputs.push_back(ServerOutput::Transmit(bytes));
        Ok(())
    }

    /// Sends raw bytes as-is (to test how a client copes with garbage).
    #[doc(hidden)]
    pub fn send_raw(&mut self, bytes: Vec<u8>) {
        self.outputs.push_back(ServerOutput::Transmit(bytes));
    }

    /// The next queued output, if any.
    pub fn poll_output(&mut self) -> Option<ServerOutput> {
        self.outputs.pop_front()
    }

    /// Whether the handshake completed and the connection is open.
    pub fn is_open(&self) -> bool {
        matches!(self.state, State::Open)
    }
}

impl std::fmt::Debug for ServerConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConnection")
            .field("open", &self.is_open())
            .finish_non_exhaustive()
    }
}
