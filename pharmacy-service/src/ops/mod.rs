//! Running the service for years: configuration ([`config`]), `/readyz` and `/metrics`
//! ([`health`], [`metrics`]), one instance per data directory ([`lock`]), media retention
//! ([`retention`]), online backup and restore ([`backup`]), private files at rest
//! ([`permissions`]) and the stop signals ([`shutdown`]).

pub mod backup;
pub mod config;
pub mod health;
pub mod lock;
pub mod metrics;
pub mod permissions;
pub mod retention;
pub mod shutdown;
