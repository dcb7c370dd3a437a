//! End-to-end tests: one binary, one module per flow.

mod appstate;
mod client;
mod crash;
mod customers;
mod examples;
mod history;
mod pairing;
mod redelivery;
