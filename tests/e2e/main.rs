//! End-to-end tests: one binary, one module per flow.

mod appstate;
mod backpressure;
mod client;
mod crash;
mod customers;
mod device_refresh;
mod examples;
mod group_removal;
mod groups;
mod history;
mod identity_change;
mod key_index;
mod lid;
mod media;
mod messaging;
mod outgoing;
mod pairing;
mod privacy_tokens;
mod redelivery;
mod server_rules;
mod shapes;
mod shapes_generated;
mod stanzas;
