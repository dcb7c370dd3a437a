//! pharmacy-service: Khalifa Pharmacies' conversation-management core.
//!
//! Layers (data flows http/whatsapp -> app -> domain + db):
//! - [`domain`]: pure rules (ticket state machine, routing, KPI folds, pacing, text).
//! - [`db`]: sqlx queries per aggregate, each taking an executor so the caller owns the transaction.
//! - [`app`]: use-cases, each one transaction, publishing typed live events.
//! - [`whatsapp`]: the paced outbox worker against the [`app::Messenger`] port, the bridge over
//!   whatsapp-client (implementing the [`app`] ports) and their fakes.
//! - [`http`]: the API over the use-cases; [`ops`]: configuration, health, backups.
//! - [`startup`]: the composition root ([`startup::Application::build`]) that `serve`, the demo
//!   and the tests assemble the service with.
//!
//! Cargo feature `demo` (default): the `demo` command and [`demo`], which embed whatsapp-sim;
//! `--no-default-features` builds a `serve`-only binary without the simulator.

pub mod alerts;
pub mod app;
pub mod db;
#[cfg(feature = "demo")]
pub mod demo;
pub mod domain;
pub mod http;
pub mod import;
#[cfg(test)]
mod layering_tests;
pub mod ops;
pub mod startup;
pub mod whatsapp;
