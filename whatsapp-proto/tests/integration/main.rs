//! whatsapp-proto's integration tests: one binary, one module per area.

// Test and tool code, outside the sans-IO rule of clippy.toml.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod appstate;
mod binary;
mod binary_ref;
mod connection;
mod content;
mod media;
mod noise;
mod sans_io;
mod schema;
mod secrets;
mod signal;
