//! End-to-end tests: one binary, one module per flow.

mod client;
mod examples;
mod pairing;
