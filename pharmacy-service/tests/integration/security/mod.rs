//! The service's threat model: one file per attack. Each test plays the attacker against the
//! running service (or its inbound path) and asserts the attack changes nothing.

mod cross_chat;
mod ticket_open;
mod webhook_replay;
