//! End-to-end tests: one binary, one module per flow.

mod client;
mod crash;
mod examples;
mod pairing;
