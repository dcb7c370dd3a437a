//! The bodies the API answers with that are not a core record: the shared list and page
//! wrappers here, and one module per area. Every handler returns one of these (or a core type)
//! in `Json<T>`, and its `#[utoipa::path]` names the same type, so the OpenAPI schemas are the
//! real answers.

pub mod admin;
pub mod agents;
pub mod auth;
pub mod calendar;
pub mod whatsapp;

use serde::Serialize;
use utoipa::ToSchema;

/// `{"items": [...]}`: a whole (short) list.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Items<T: ToSchema> {
    /// The entries.
    pub items: Vec<T>,
}

impl<T: ToSchema> Items<T> {
    /// Wraps the list.
    pub fn of(items: Vec<T>) -> Self {
        Items { items }
    }
}

/// A page: `{"items": [...], "next_cursor"}`; pass `next_cursor` as `cursor` for the next.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Page<T: ToSchema> {
    /// The entries of this page.
    pub items: Vec<T>,
    /// `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

impl<T: ToSchema> Page<T> {
    /// A page of at most `limit` entries: a full one names the cursor of the next (`cursor` of
    /// its last entry), a shorter one is the last.
    pub fn of(items: Vec<T>, limit: i64, cursor: impl Fn(&T) -> String) -> Self {
        let full = i64::try_from(items.len()).is_ok_and(|n| n == limit);
        let next_cursor = full.then(|| items.last().map(cursor)).flatten();
        Page { items, next_cursor }
    }
}

/// `{"ok": true}`: the action was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Done {
    /// Always true.
    pub ok: bool,
}

impl Done {
    /// The answer.
    pub const OK: Done = Done { ok: true };
}
