//! The XX message sequence for both roles (fact sheet part 1 §2.3;
//! whatsmeow `handshake.go` and `socket/noisehandshake.go`).
//!
//! ```text
//! -> e                      ClientHello{ephemeral}
//! <- e, ee, s, es, payload  ServerHello{ephemeral, static, payload = cert chain}
//! -> s, se, payload         ClientFinish{static, payload = ClientPayload}
//! ```

use prost::Message;

use super::cert::{CertError, VerifiedChain, verify_cert_chain};
use super::symmetric::SymmetricState;
use super::transport::Transport;
use super::{HandshakeConfig, TraceEntry};
use crate::pb::handshake::HandshakeMessage;
use crate::pb::handshake::handshake_message::{ClientFinish, ClientHello, ServerHello};
use crate::xeddsa::KeyPair;

/// A handshake failure. All variants are the peer's fault (a malformed,
/// unexpected or forged message); the connection must be dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The bytes are not a `HandshakeMessage` protobuf.
    #[error("handshake message is not a valid protobuf: {reason}")]
    Malformed {
        /// prost's description.
        reason: String,
    },
    /// The message lacks the part this step expects.
    #[error("expected {expected} in the handshake message")]
    UnexpectedMessage {
        /// `"client_hello"`, `"server_hello"` or `"client_finish"`.
        expected: &'static str,
    },
    /// A required field is absent.
    #[error("{message}.{field} is missing")]
    MissingField {
        /// The message.
        message: &'static str,
        /// The field.
        field: &'static str,
    },
    /// A key has the wrong length (after decryption, for encrypted keys).
    #[error("{field} is {actual} bytes, expected {expected}")]
    Length {
        /// The field.
        field: &'static str,
        /// Required length.
        expected: usize,
        /// Received length.
        actual: usize,
    },
    /// A ciphertext failed authentication.
    #[error("{field} failed to decrypt")]
    Decrypt {
        /// The field.
        field: &'static str,
    },
    /// The server's certificate chain was refused.
    #[error("server certificate: {0}")]
    Certificate(#[from] CertError),
}

/// Parses untrusted bytes as a `HandshakeMessage`. Never panics.
pub fn parse_handshake_message(bytes: &[u8]) -> Result<HandshakeMessage, HandshakeError> {
    HandshakeMessage::decode(bytes).map_err(|e| HandshakeError::Malformed {
        reason: e.to_string(),
    })
}

fn key32(bytes: &[u8], field: &'static str) -> Result<[u8; 32], HandshakeError> {
    bytes.try_into().map_err(|_| HandshakeError::Length {
        field,
        expected: 32,
        actual: bytes.len(),
    })
}

fn required<'a>(
    value: &'a Option<Vec<u8>>,
    message: &'static str,
    field: &'static str,
) -> Result<&'a [u8], HandshakeError> {
    value
        .as_deref()
        .ok_or(HandshakeError::MissingField { message, field })
}

fn decrypt(
    sym: &mut SymmetricState,
    ciphertext: &[u8],
    field: &'static str,
) -> Result<Vec<u8>, HandshakeError> {
    sym.decrypt_and_hash(ciphertext)
        .ok_or(HandshakeError::Decrypt { field })
}

/// Split, recording the keys named from the initiator's side.
fn split(sym: &mut SymmetricState) -> ([u8; 32], [u8; 32]) {
    let (first, second) = sym.split();
    sym.record("split_write_key", first);
    sym.record("split_read_key", second);
    (first, second)
}

// ---------------------------------------------------------------- initiator

/// Starts a client handshake: returns the state waiting for ServerHello and
/// the serialized `HandshakeMessage{client_hello}` to send (the caller's
/// framing puts the intro header in front of it).
///
/// `noise_key` is the device's persistent static key; `ephemeral` must be
/// fresh for every connection.
pub fn initiate(
    config: &HandshakeConfig,
    noise_key: KeyPair,
    ephemeral: KeyPair,
) -> (InitiatorAwaitServerHello, Vec<u8>) {
    let mut sym = SymmetricState::new(&config.prologue, config.record_trace);
    sym.mix_hash(ephemeral.public());
    if config.standard_noise {
        // Standard Noise's EncryptAndHash of the empty payload, keyless: MixHash("").
        sym.mix_hash(&[]);
    }
    sym.record_h("h_after_client_ephemeral");
    let hello = HandshakeMessage {
        client_hello: Some(ClientHello {
            ephemeral: Some(ephemeral.public().to_vec()),
            ..ClientHello::default()
        }),
        ..HandshakeMessage::default()
    }
    .encode_to_vec();
    let state = InitiatorAwaitServerHello {
        sym,
        root_key: config.root_key,
        noise_key,
        ephemeral,
    };
    (state, hello)
}

/// Client state after ClientHello was sent.
pub struct InitiatorAwaitServerHello {
    sym: SymmetricState,
    root_key: [u8; 32],
    noise_key: KeyPair,
    ephemeral: KeyPair,
}

impl InitiatorAwaitServerHello {
    /// Processes the server's `HandshakeMessage{server_hello}`: decrypts the
    /// server static key and the certificate chain and verifies the chain
    /// against the configured root key at time `now` (unix seconds).
    pub fn read_server_hello(
        mut self,
        message: &[u8],
        now: u64,
    ) -> Result<InitiatorReadyToFinish, HandshakeError> {
        let message = parse_handshake_message(message)?;
        let ServerHello {
            ephemeral,
            r#static,
            payload,
        } = message
            .server_hello
            .ok_or(HandshakeError::UnexpectedMessage {
                expected: "server_hello",
            })?;
        const MSG: &str = "server_hello";
        let server_ephemeral = key32(
            required(&ephemeral, MSG, "ephemeral")?,
            "server_hello.ephemeral",
        )?;
        let static_ct = required(&r#static, MSG, "static")?;
        let payload_ct = required(&payload, MSG, "payload")?;

        let sym = &mut self.sym;
        sym.mix_hash(&server_ephemeral);
        sym.record_h("h_after_server_ephemeral");
        sym.mix_key(&self.ephemeral.dh(&server_ephemeral));
        sym.record_ck("chaining_key_after_mix_ee");
        let server_static = decrypt(sym, static_ct, "server_hello.static")?;
        let server_static = key32(&server_static, "server_hello.static")?;
        sym.record_h("h_after_server_static");
        sym.mix_key(&self.ephemeral.dh(&server_static));
        sym.record_ck("chaining_key_after_mix_es");
        let chain = decrypt(sym, payload_ct, "server_hello.payload")?;
        sym.record_h("h_after_cert");
        let chain = verify_cert_chain(&chain, &self.root_key, &server_static, now)?;

        Ok(InitiatorReadyToFinish {
            sym: self.sym,
            noise_key: self.noise_key,
            server_ephemeral,
            server_static,
            chain,
        })
    }

    /// The handshake hash so far.
    pub fn handshake_hash(&self) -> [u8; 32] {
        self.sym.hash()
    }
}

/// Client state after a valid ServerHello: the server is authenticated and
/// the ClientPayload can be sent.
pub struct InitiatorReadyToFinish {
    sym: SymmetricState,
    noise_key: KeyPair,
    server_ephemeral: [u8; 32],
    server_static: [u8; 32],
    chain: VerifiedChain,
}

impl InitiatorReadyToFinish {
    /// The server's static key (equal to the verified leaf key).
    pub fn server_static(&self) -> &[u8; 32] {
        &self.server_static
    }

    /// The verified certificate chain.
    pub fn cert_chain(&self) -> &VerifiedChain {
        &self.chain
    }

    /// The handshake hash so far.
    pub fn handshake_hash(&self) -> [u8; 32] {
        self.sym.hash()
    }

    /// Encrypts our static key and `client_payload` (a serialized
    /// ClientPayload) into ClientFinish and splits into the transport.
    pub fn finish(mut self, client_payload: &[u8]) -> InitiatorFinished {
        let sym = &mut self.sym;
        let static_ct = sym.encrypt_and_hash(self.noise_key.public());
        sym.record_h("h_after_client_static");
        sym.mix_key(&self.noise_key.dh(&self.server_ephemeral));
        sym.record_ck("chaining_key_after_mix_se");
        let payload_ct = sym.encrypt_and_hash(client_payload);
        let message = HandshakeMessage {
            client_finish: Some(ClientFinish {
                r#static: Some(static_ct),
                payload: Some(payload_ct),
            }),
            ..HandshakeMessage::default()
        }
        .encode_to_vec();
        let (write, read) = split(sym);
        InitiatorFinished {
            message,
            transport: Transport::from_keys(write, read),
            server_static: self.server_static,
            handshake_hash: sym.hash(),
            trace: sym.take_trace(),
        }
    }
}

/// The client's side of a completed handshake.
#[derive(Debug)]
pub struct InitiatorFinished {
    /// The serialized `HandshakeMessage{client_finish}` to send (the server
    /// does not answer it with a handshake message).
    pub message: Vec<u8>,
    /// The transport cipher for everything that follows.
    pub transport: Transport,
    /// The authenticated server static key.
    pub server_static: [u8; 32],
    /// The final handshake hash.
    pub handshake_hash: [u8; 32],
    /// Intermediate values when `record_trace` was set, else empty.
    #[doc(hidden)]
    pub trace: Vec<TraceEntry>,
}

// ---------------------------------------------------------------- responder

/// Starts a server handshake with the server's static key (the one its leaf
/// certificate certifies) and a fresh ephemeral key.
pub fn respond(
    config: &HandshakeConfig,
    static_key: KeyPair,
    ephemeral: KeyPair,
) -> ResponderAwaitClientHello {
    ResponderAwaitClientHello {
        sym: SymmetricState::new(&config.prologue, config.record_trace),
        standard_noise: config.standard_noise,
        static_key,
        ephemeral,
    }
}

/// Server state waiting for ClientHello.
pub struct ResponderAwaitClientHello {
    sym: SymmetricState,
    standard_noise: bool,
    static_key: KeyPair,
    ephemeral: KeyPair,
}

impl ResponderAwaitClientHello {
    /// Processes `HandshakeMessage{client_hello}` (only its ephemeral key is used).
    pub fn read_client_hello(
        mut self,
        message: &[u8],
    ) -> Result<ResponderReadyForServerHello, HandshakeError> {
        let message = parse_handshake_message(message)?;
        let hello = message
            .client_hello
            .ok_or(HandshakeError::UnexpectedMessage {
                expected: "client_hello",
            })?;
        let client_ephemeral = key32(
            required(&hello.ephemeral, "client_hello", "ephemeral")?,
            "client_hello.ephemeral",
        )?;
        self.sym.mix_hash(&client_ephemeral);
        if self.standard_noise {
            self.sym
                .mix_hash(hello.payload.as_deref().unwrap_or_default());
        }
        self.sym.record_h("h_after_client_ephemeral");
        Ok(ResponderReadyForServerHello {
            sym: self.sym,
            static_key: self.static_key,
            ephemeral: self.ephemeral,
            client_ephemeral,
        })
    }
}

/// Server state after a valid ClientHello.
pub struct ResponderReadyForServerHello {
    sym: SymmetricState,
    static_key: KeyPair,
    ephemeral: KeyPair,
    client_ephemeral: [u8; 32],
}

impl ResponderReadyForServerHello {
    /// Builds `HandshakeMessage{server_hello}` carrying `cert_chain` (a
    /// serialized `CertChain`, e.g. from [`super::cert::build_cert_chain`]).
    pub fn write_server_hello(
        mut self,
        cert_chain: &[u8],
    ) -> (ResponderAwaitClientFinish, Vec<u8>) {
        let sym = &mut self.sym;
        sym.mix_hash(self.ephemeral.public());
        sym.record_h("h_after_server_ephemeral");
        sym.mix_key(&self.ephemeral.dh(&self.client_ephemeral));
        sym.record_ck("chaining_key_after_mix_ee");
        let static_ct = sym.encrypt_and_hash(self.static_key.public());
        sym.record_h("h_after_server_static");
        sym.mix_key(&self.static_key.dh(&self.client_ephemeral));
        sym.record_ck("chaining_key_after_mix_es");
        let payload_ct = sym.encrypt_and_hash(cert_chain);
        sym.record_h("h_after_cert");
        let message = HandshakeMessage {
            server_hello: Some(ServerHello {
                ephemeral: Some(self.ephemeral.public().to_vec()),
                r#static: Some(static_ct),
                payload: Some(payload_ct),
            }),
            ..HandshakeMessage::default()
        }
        .encode_to_vec();
        let state = ResponderAwaitClientFinish {
            sym: self.sym,
            ephemeral: self.ephemeral,
        };
        (state, message)
    }
}

/// Server state after ServerHello was sent.
pub struct ResponderAwaitClientFinish {
    sym: SymmetricState,
    ephemeral: KeyPair,
}

impl ResponderAwaitClientFinish {
    /// Processes `HandshakeMessage{client_finish}`: learns the client's static
    /// key and its (decrypted, still serialized) ClientPayload.
    pub fn read_client_finish(
        mut self,
        message: &[u8],
    ) -> Result<ResponderFinished, HandshakeError> {
        let message = parse_handshake_message(message)?;
        let finish = message
            .client_finish
            .ok_or(HandshakeError::UnexpectedMessage {
                expected: "client_finish",
            })?;
        let static_ct = required(&finish.r#static, "client_finish", "static")?;
        let payload_ct = required(&finish.payload, "client_finish", "payload")?;
        let sym = &mut self.sym;
        let client_static = decrypt(sym, static_ct, "client_finish.static")?;
        let client_static = key32(&client_static, "client_finish.static")?;
        sym.record_h("h_after_client_static");
        sym.mix_key(&self.ephemeral.dh(&client_static));
        sym.record_ck("chaining_key_after_mix_se");
        let payload = decrypt(sym, payload_ct, "client_finish.payload")?;
        let (client_write, client_read) = split(sym);
        Ok(ResponderFinished {
            client_static,
            payload,
            transport: Transport::from_keys(client_read, client_write),
            handshake_hash: sym.hash(),
            trace: sym.take_trace(),
        })
    }
}

/// The server's side of a completed handshake.
#[derive(Debug)]
pub struct ResponderFinished {
    /// The client's static (noise) key, now authenticated.
    pub client_static: [u8; 32],
    /// The decrypted ClientFinish payload (a serialized ClientPayload).
    pub payload: Vec<u8>,
    /// The transport cipher for everything that follows.
    pub transport: Transport,
    /// The final handshake hash.
    pub handshake_hash: [u8; 32],
    /// Intermediate values when `record_trace` was set, else empty; split
    /// keys are named from the initiator's side.
    #[doc(hidden)]
    pub trace: Vec<TraceEntry>,
}

impl std::fmt::Debug for InitiatorAwaitServerHello {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InitiatorAwaitServerHello")
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for InitiatorReadyToFinish {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InitiatorReadyToFinish")
            .field("chain", &self.chain)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ResponderAwaitClientHello {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponderAwaitClientHello")
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ResponderReadyForServerHello {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponderReadyForServerHello")
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ResponderAwaitClientFinish {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponderAwaitClientFinish")
            .finish_non_exhaustive()
    }
}
