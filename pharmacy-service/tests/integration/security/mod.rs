//! The service's threat model, one file per attack area (issues 18 and 19, "Security I" and
//! "Security II"). Each test is an attack that worked against the service before it was closed:
//! a customer on WhatsApp, an agent at a shared branch PC, or a gateway on the ingest webhook
//! reaching past their role; it plays the attacker against the running service (or its inbound
//! path) and asserts the attack changes nothing. A new attack area gets a file of its own here.

mod cross_chat;
mod media_send;
mod media_xss;
mod ticket_open;
mod webhook_replay;
