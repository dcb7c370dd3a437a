//! The service's threat model: one file per attack.

mod login;
mod sessions;
