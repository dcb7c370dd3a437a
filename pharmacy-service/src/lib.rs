//! pharmacy-service: Khalifa Pharmacies' conversation-management core.
//!
//! Layers (data flows http/whatsapp -> app -> domain + db):
//! - [`domain`]: pure rules (ticket state machine, routing, KPI folds, pacing, text).
//! - [`db`]: sqlx queries per aggregate, each taking an executor so the caller owns the transaction.
//! - [`app`]: use-cases, each one transaction, publishing typed live events.
//! - [`whatsapp`]: the paced outbox worker against the [`app::Messenger`] port.

pub mod alerts;
pub mod app;
pub mod db;
pub mod demo;
pub mod domain;
pub mod http;
pub mod import;
pub mod ops;
pub mod whatsapp;
