//! The pure core: no database, no sockets, no clock. Every function that needs the time takes
//! `now`; every function that needs randomness takes the random value as an argument.
//!
//! Architecture Invariant: this module imports no sqlx, axum, tokio or WhatsApp client.

pub mod autoreply;
pub mod csat;
pub mod geo;
pub mod ids;
pub mod kpi;
pub mod label;
pub mod menu;
pub mod message;
pub mod mime;
pub mod pacing;
pub mod phone;
pub mod retraction;
pub mod routing;
pub mod schedule;
pub mod search;
pub mod signature;
pub mod template;
pub mod ticket;
pub mod time;
