//! The envelopes of list answers, shared by every area of the API (the handlers of
//! `admin`, `agents`, `alerts` ... use them as much as `tickets` and `messages`): a leaf
//! module, so any handler module can name these types in its answer and in its
//! `#[utoipa::path]` without importing another area.

use serde::Serialize;
use utoipa::ToSchema;

/// A page of a cursor-paginated list: `{"items": [...], "next_cursor"}`; pass `next_cursor`
/// back as `cursor` (or `before`, where the list pages backwards) for the next page.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Page<T> {
    /// This page's rows.
    pub items: Vec<T>,
    /// `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// An empty last page.
    pub fn empty() -> Self {
        Page {
            items: Vec::new(),
            next_cursor: None,
        }
    }

    /// A page of `items` asked for with page size `limit`: a full page has a next one, whose
    /// cursor `cursor` makes from the row that ends this one (`last`: the last row, or the
    /// first when the list pages backwards).
    pub fn of(items: Vec<T>, limit: i64, last: bool, cursor: impl Fn(&T) -> String) -> Self {
        let end = if last { items.last() } else { items.first() };
        let next_cursor = (items.len() as i64 == limit)
            .then(|| end.map(cursor))
            .flatten();
        Page { items, next_cursor }
    }
}

/// A whole (short) list: `{"items": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Items<T> {
    /// The rows.
    pub items: Vec<T>,
}

impl<T> Items<T> {
    /// Wraps the list.
    pub fn of(items: Vec<T>) -> Self {
        Items { items }
    }
}

impl<T> From<Vec<T>> for Items<T> {
    fn from(items: Vec<T>) -> Self {
        Items { items }
    }
}

/// The answer of an action with nothing else to say: `{"ok": true}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Done {
    /// Always `true`.
    pub ok: bool,
}

impl Done {
    /// `{"ok": true}`.
    pub const OK: Done = Done { ok: true };
}

/// The page size of a list query: default 50, at most 200 (its `limit` parameter).
pub fn page_size(limit: Option<i64>) -> Result<i64, super::ApiError> {
    let l = limit.unwrap_or(50);
    if !(1..=200).contains(&l) {
        return Err(super::ApiError::invalid("limit", "between 1 and 200"));
    }
    Ok(l)
}
