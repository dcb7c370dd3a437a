//! The bodies the API answers with that are not a core record: the shared list and page
//! wrappers here, and one module per area. Every handler returns one of these (or a core type)
//! in `Json<T>`, and its `#[utoipa::path]` names the same type, so the OpenAPI schemas are the
//! real answers.

pub mod admin;
pub mod agents;
pub mod auth;
pub mod calendar;
pub mod whatsapp;

// The envelopes live in the leaf module `http::page`; named here too for the areas' views.
pub use super::page::{Done, Items, Page};
