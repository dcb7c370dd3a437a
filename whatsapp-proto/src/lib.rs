//! Sans-IO core of a WhatsApp Web multi-device client.
//!
//! Everything here is pure code: no sockets, no tokio, no clock and no ambient
//! randomness. Time enters as a `now` argument and randomness as an RNG argument,
//! which is what lets every step be tested against known-answer vectors. The
//! tokio shell lives in `whatsapp-client`.
//!
//! | module | holds |
//! | --- | --- |
//! | [`binary`] | the binary-XML node model, encoder and decoder |
//! | [`jid`] | WhatsApp addresses (`user.agent:device@server`) |
//! | [`frame`] | 3-byte length framing and the connection intro header |
//! | [`pb`] | protobuf types generated from `proto/` |
//! | [`content`] | what a message carries: wrappers looked through, typed content and context |
//! | [`connection`] | the sans-IO connection core: handshake, login, IQs, keepalive, stream events |
//! | [`noise`] | the Noise XX handshake, transport cipher and server certificate chain |
//! | [`payload`] | ClientPayload for registration and login |
//! | [`pairing`] | QR strings, ADV verification and signing, phone-code pairing (both sides) |
//! | [`key_index`] | ADV key-index lists: verifying the primary's signature, filtering device lists |
//! | [`signal`] | Signal sessions and sender keys |
//! | [`stanza`] | the stanza vocabulary both sides speak: key bundles, usync, phash, message types |
//! | [`xeddsa`] | XEdDSA signatures over Curve25519 keys, as libsignal makes them |
//! | [`receive`] | the receive core: a `<message>` decided (decrypt, ack, receipt, retry, nack) without IO |
//! | [`poll`] | poll votes: encryption under the poll's message secret, option hashes |
//! | [`media`] | media keys, encryption and streaming verified decryption, media retry |
//! | [`appstate`] | app-state sync crypto (LTHash, MACs, mutations), typed actions, history-sync blobs |

// The sans-IO rule is kept by clippy (clippy.toml); test code may read the clock and OS
// entropy.
#![cfg_attr(test, allow(clippy::disallowed_methods, clippy::disallowed_types))]

pub mod appstate;
pub mod binary;
pub mod connection;
pub mod content;
pub mod frame;
pub mod jid;
pub mod key_index;
pub mod media;
pub mod noise;
pub mod pairing;
pub mod payload;
pub mod pb;
pub mod poll;
pub mod receive;
pub mod signal;
pub mod stanza;
pub mod xeddsa;
