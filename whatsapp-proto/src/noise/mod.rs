//! WhatsApp's Noise XX handshake, its transport cipher and the server certificate chain.
//!
//! WhatsApp runs `Noise_XX_25519_AESGCM_SHA256` with the connection intro
//! header `57 41 06 03` as prologue, carries the three messages in the
//! `HandshakeMessage` protobuf, and departs from standard Noise in one place:
//! message 1's empty payload is **not** mixed into the hash (fact sheet part 1
//! §2.3). Both roles are here: the initiator for the client, the responder for
//! the simulated server.
//!
//! Handshake states are consuming types: each step takes `self` and returns
//! the next state, so a step cannot be repeated or skipped. Keys come in as
//! arguments (no ambient randomness) and certificate validity is checked
//! against a `now` argument (no clock).
//!
//! ```
//! use rand_chacha::rand_core::SeedableRng;
//! use whatsapp_proto::noise::{self, cert::{self, CertDetails}, HandshakeConfig};
//! use whatsapp_proto::xeddsa::KeyPair;
//!
//! let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
//! let (root, inter, server_key) = (KeyPair::generate(&mut rng), KeyPair::generate(&mut rng), KeyPair::generate(&mut rng));
//! let i = CertDetails { serial: 1, issuer_serial: cert::ROOT_SERIAL, key: *inter.public(), not_before: 0, not_after: 2_000_000_000 };
//! let l = CertDetails { serial: 2, issuer_serial: 1, key: *server_key.public(), not_before: 0, not_after: 2_000_000_000 };
//! let chain = cert::build_cert_chain(&root, &i, &inter, &l, &mut rng);
//! let config = HandshakeConfig::default().with_root_key(*root.public());
//!
//! let (client, hello) = noise::initiate(&config, KeyPair::generate(&mut rng), KeyPair::generate(&mut rng));
//! let server = noise::respond(&config, server_key, KeyPair::generate(&mut rng));
//! let (server, server_hello) = server.read_client_hello(&hello)?.write_server_hello(&chain);
//! let client = client.read_server_hello(&server_hello, 1_700_000_000)?;
//! let mut client = client.finish(b"client payload");
//! let mut server = server.read_client_finish(&client.message)?;
//! assert_eq!(server.payload, b"client payload");
//! let frame = client.transport.encrypt(b"\x00hi")?;
//! assert_eq!(server.transport.decrypt(&frame)?, b"\x00hi");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod cert;
mod handshake;
mod symmetric;
mod transport;

pub use handshake::{
    HandshakeError, InitiatorAwaitServerHello, InitiatorFinished, InitiatorReadyToFinish,
    ResponderAwaitClientFinish, ResponderAwaitClientHello, ResponderFinished,
    ResponderReadyForServerHello, initiate, parse_handshake_message, respond,
};
pub use transport::{Direction, TAG_LEN, Transport, TransportError};

/// The protocol name, exactly 32 bytes, used directly as the initial hash.
/// Source: whatsmeow `socket/constants.go` `NoiseStartPattern`.
pub const PROTOCOL_NAME: [u8; 32] = *b"Noise_XX_25519_AESGCM_SHA256\0\0\0\0";

/// The prologue: the connection intro header `W A 06 03` (magic 6, token
/// dictionary version 3). Source: whatsmeow `socket/constants.go` `WAConnHeader`.
pub const PROLOGUE: [u8; 4] = [0x57, 0x41, 0x06, 0x03];

/// A labelled intermediate value of a handshake (see `HandshakeConfig::record_trace`).
pub type TraceEntry = (&'static str, [u8; 32]);

/// Settings shared by both handshake roles. Built from [`Default`] and the `with_` methods
/// (more settings may come).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HandshakeConfig {
    /// The certificate root the initiator trusts: [`cert::WHATSAPP_ROOT_KEY`]
    /// by default; a simulated server uses its own.
    pub root_key: [u8; 32],
    /// Hashed before anything else; must equal the intro header the client
    /// sends ([`PROLOGUE`] by default).
    pub prologue: Vec<u8>,
    /// Test-only: restore standard Noise's MixHash of message 1's empty
    /// payload, which WhatsApp skips. Only for interoperating with a stock
    /// Noise implementation (e.g. `snow`) in tests.
    #[doc(hidden)]
    pub standard_noise: bool,
    /// Test-only: record every intermediate hash, chaining key and the split
    /// keys into the finished handshake's `trace` (secrets: never in production).
    #[doc(hidden)]
    pub record_trace: bool,
}

impl Default for HandshakeConfig {
    fn default() -> Self {
        Self {
            root_key: cert::WHATSAPP_ROOT_KEY,
            prologue: PROLOGUE.to_vec(),
            standard_noise: false,
            record_trace: false,
        }
    }
}

impl HandshakeConfig {
    /// Sets the certificate root the initiator trusts.
    pub fn with_root_key(mut self, root_key: [u8; 32]) -> Self {
        self.root_key = root_key;
        self
    }

    /// Sets the prologue (the intro header).
    pub fn with_prologue(mut self, prologue: Vec<u8>) -> Self {
        self.prologue = prologue;
        self
    }

    /// Test-only: see [`HandshakeConfig::standard_noise`].
    #[doc(hidden)]
    pub fn with_standard_noise(mut self, on: bool) -> Self {
        self.standard_noise = on;
        self
    }

    /// Test-only: see [`HandshakeConfig::record_trace`].
    #[doc(hidden)]
    pub fn with_trace(mut self, on: bool) -> Self {
        self.record_trace = on;
        self
    }
}
