//! whatsapp-proto's integration tests: one binary, one module per area.

mod binary;
mod noise;
mod signal;
