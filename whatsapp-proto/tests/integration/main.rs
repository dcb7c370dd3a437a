//! whatsapp-proto's integration tests: one binary, one module per area.

mod appstate;
mod binary;
mod binary_ref;
mod connection;
mod content;
mod media;
mod noise;
mod sans_io;
mod schema;
mod signal;
