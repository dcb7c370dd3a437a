#![doc = include_str!("../README.md")]
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
pub mod poll_tally;
pub mod receive;
pub mod signal;
pub mod stanza;
pub mod xeddsa;
