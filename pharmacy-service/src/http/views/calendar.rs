//! Answers of the branch calendar routes.

use crate::app::Holiday;
use crate::domain::ids::BranchId;
use serde::Serialize;
use utoipa::ToSchema;

/// One holiday as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct HolidayView {
    /// Id.
    pub id: i64,
    /// Local date.
    #[schema(format = Date)]
    pub day: String,
    /// What it is.
    pub name: String,
    /// A holiday of every branch (listed under each).
    pub chain_wide: bool,
}

/// A calendar's holidays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct HolidayList {
    /// The branch; null for the chain-wide list.
    #[schema(required = true)]
    pub branch_id: Option<BranchId>,
    /// By date.
    pub items: Vec<HolidayView>,
}

impl HolidayList {
    /// The list of `branch` (or the chain-wide one) from its rows.
    pub fn of(branch_id: Option<BranchId>, rows: Vec<Holiday>) -> HolidayList {
        let items = rows
            .into_iter()
            .map(|h| HolidayView {
                id: h.id,
                chain_wide: h.branch_id.is_none(),
                day: h.day,
                name: h.name,
            })
            .collect();
        HolidayList { branch_id, items }
    }
}
