//! Switch-over day (issue 34): what the Django import leaves for an admin to finish before the
//! service goes live, and the review of the tickets it carried over.
//!
//! - **Branches.** The old system kept an agent's branch as free text; labels that matched no
//!   branch came in as inactive `legacy-*` rows. Each is mapped to a real branch (an existing
//!   one, or one of the chain's 15 default branches, created on the way), which moves its
//!   agents, tickets, customers and history there and drops the legacy row; or it is completed
//!   in place (address, location, hours) and activated.
//! - **Readiness.** Every active branch needs an address, a location and opening hours, and at
//!   least one agent; the status lists what is still missing.
//! - **Carried-over tickets** (imported open or pending) wait for an admin or their agent to
//!   keep (a normal ticket from then on, its inactivity clock starting then), reassign or close
//!   them; the inactivity job leaves them alone meanwhile.

use super::{App, AppError, TransferTarget, not_found};
use crate::db;
use crate::db::branches::{Branch, NewBranch};
use crate::db::tickets::Ticket;
use crate::domain::ids::{BranchId, TicketId, UserId};
use crate::domain::schedule::WeeklyHours;
use crate::domain::ticket::Actor;
use crate::import::people::label_matches;
use serde::{Deserialize, Serialize};

/// The code prefix of branches the import created from an unmatched label.
pub const LEGACY_PREFIX: &str = "legacy-";

/// Where the import places a branch it could not locate (Mansoura city centre): a branch still
/// there has no location of its own yet.
pub const PLACEHOLDER_LOCATION: (f64, f64) = (31.0409, 31.3785);

/// A branch the switch-over page could map a legacy label to.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct BranchSuggestion {
    /// An existing branch (`null`: one of the default branches, created when chosen).
    pub branch_id: Option<BranchId>,
    /// The branch's code (for a default branch, what to send as `default_code`).
    pub code: String,
    /// English name.
    pub name: String,
    /// Arabic name.
    pub name_ar: String,
}

/// An imported branch label still waiting to be mapped.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LegacyBranch {
    /// The branch row the import created.
    pub branch: Branch,
    /// Agents in it.
    pub agents: i64,
    /// Its tickets that are not closed.
    pub open_tickets: i64,
    /// Branches whose code or (normalised Arabic or English) name matches the label, existing
    /// ones first.
    pub suggestions: Vec<BranchSuggestion>,
}

/// Something an active branch still lacks before going live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BranchGap {
    /// No street address.
    Address,
    /// No location of its own (customers are routed to the nearest branch).
    Location,
    /// No opening hours.
    Hours,
    /// No agent.
    Agents,
}

/// One real branch and what it lacks.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct BranchCheck {
    /// The branch.
    pub branch: Branch,
    /// Agents in it.
    pub agents: i64,
    /// What is missing (empty: ready).
    pub missing: Vec<BranchGap>,
}

/// The switch-over page: what is left to do before going live.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SwitchoverStatus {
    /// Imported branch labels not mapped yet.
    pub legacy_branches: Vec<LegacyBranch>,
    /// The other branches, with what each lacks.
    pub branches: Vec<BranchCheck>,
    /// Agents with no branch (nobody is routed to them by branch).
    pub agents_without_branch: i64,
    /// Carried-over tickets still waiting for review (the inbox's carried-over view).
    pub carried_over: i64,
    /// No legacy branch left, at least one active branch, and every active branch complete.
    /// (Carried-over tickets do not hold the switch-over up: they can be reviewed after.)
    pub ready: bool,
}

/// What a legacy branch becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapTarget {
    /// An existing branch.
    Branch(BranchId),
    /// One of the default branches, by code (created if the service has no branch with it).
    Default(String),
}

/// A branch's details as the switch-over page sets them. `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
pub struct BranchSetup {
    /// A new code (a completed legacy branch drops its `legacy-` code this way).
    #[serde(default)]
    pub code: Option<String>,
    /// English name.
    #[serde(default)]
    pub name: Option<String>,
    /// Arabic name.
    #[serde(default)]
    pub name_ar: Option<String>,
    /// Street address.
    #[serde(default)]
    pub address: Option<String>,
    /// Landline.
    #[serde(default)]
    pub phone: Option<String>,
    /// Latitude (with `longitude`).
    #[serde(default)]
    pub latitude: Option<f64>,
    /// Longitude (with `latitude`).
    #[serde(default)]
    pub longitude: Option<f64>,
    /// Opening hours.
    #[serde(default)]
    pub hours: Option<WeeklyHours>,
    /// Take tickets by location from now on (`true`) or not.
    #[serde(default)]
    pub active: Option<bool>,
}

/// What someone decides about a carried-over ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CarryOverDecision {
    /// A normal ticket from now on; the inactivity clock starts now.
    Keep,
    /// To another agent or branch (with a note), then as `Keep`.
    Reassign(TransferTarget, String),
    /// Close it.
    Close(Option<String>),
}

fn is_legacy(b: &Branch) -> bool {
    b.code.starts_with(LEGACY_PREFIX)
}

fn gaps(b: &Branch, agents: i64) -> Vec<BranchGap> {
    let mut out = Vec::new();
    if b.address.trim().is_empty() {
        out.push(BranchGap::Address);
    }
    let (lat, lon) = PLACEHOLDER_LOCATION;
    if (b.latitude == lat && b.longitude == lon) || (b.latitude == 0.0 && b.longitude == 0.0) {
        out.push(BranchGap::Location);
    }
    if b.hours.is_empty() {
        out.push(BranchGap::Hours);
    }
    if agents == 0 {
        out.push(BranchGap::Agents);
    }
    out
}

fn invalid(field: &'static str, message: impl Into<String>) -> AppError {
    AppError::Invalid {
        field,
        message: message.into(),
    }
}

impl App {
    /// What is left to do before going live.
    pub async fn switchover_status(&self) -> Result<SwitchoverStatus, AppError> {
        let mut c = self.read().await?;
        let branches = db::branches::list(&mut c).await?;
        let per_branch = db::switchover::agents_per_branch(&mut c).await?;
        let open = db::switchover::open_tickets_per_branch(&mut c).await?;
        let count_of = |rows: &[(BranchId, i64)], b: BranchId| {
            rows.iter().find(|(id, _)| *id == b).map_or(0, |r| r.1)
        };
        let agents_without_branch = db::switchover::agents_without_branch(&mut c).await?;
        let carried_over = db::switchover::open_carried_over(&mut c).await?;
        let defaults = super::seed::default_branches();
        let mut legacy = Vec::new();
        let mut checks = Vec::new();
        for b in &branches {
            let agents = count_of(&per_branch, b.id);
            if !is_legacy(b) {
                checks.push(BranchCheck {
                    branch: b.clone(),
                    agents,
                    missing: gaps(b, agents),
                });
                continue;
            }
            let label = b.name.as_str();
            let mut suggestions: Vec<BranchSuggestion> = branches
                .iter()
                .filter(|o| !is_legacy(o) && label_matches(label, &o.code, &o.name, &o.name_ar))
                .map(|o| BranchSuggestion {
                    branch_id: Some(o.id),
                    code: o.code.clone(),
                    name: o.name.clone(),
                    name_ar: o.name_ar.clone(),
                })
                .collect();
            suggestions.extend(
                defaults
                    .iter()
                    .filter(|d| branches.iter().all(|o| o.code != d.code))
                    .filter(|d| label_matches(label, &d.code, &d.name, &d.name_ar))
                    .map(|d| BranchSuggestion {
                        branch_id: None,
                        code: d.code.clone(),
                        name: d.name.clone(),
                        name_ar: d.name_ar.clone(),
                    }),
            );
            legacy.push(LegacyBranch {
                branch: b.clone(),
                agents,
                open_tickets: count_of(&open, b.id),
                suggestions,
            });
        }
        let active: Vec<&BranchCheck> = checks.iter().filter(|c| c.branch.is_active).collect();
        let ready =
            legacy.is_empty() && !active.is_empty() && active.iter().all(|c| c.missing.is_empty());
        Ok(SwitchoverStatus {
            legacy_branches: legacy,
            branches: checks,
            agents_without_branch,
            carried_over,
            ready,
        })
    }

    /// Maps a legacy branch onto a real one: its agents, tickets, customers and history move
    /// there, the import's ledger points the old label at it (a later import run maps the
    /// label there too), and the legacy row goes. Returns the real branch.
    pub async fn map_legacy_branch(
        &self,
        legacy: BranchId,
        target: MapTarget,
        by: UserId,
    ) -> Result<Branch, AppError> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let from = db::branches::by_id(&mut tx, legacy)
            .await?
            .ok_or_else(|| not_found("branch", legacy.0))?;
        if !is_legacy(&from) {
            return Err(AppError::Conflict(format!(
                "branch {} is not an imported legacy branch",
                legacy.0
            )));
        }
        let to = match target {
            MapTarget::Branch(id) => {
                let b = db::branches::by_id(&mut tx, id)
                    .await?
                    .ok_or_else(|| invalid("branch_id", "no such branch"))?;
                if is_legacy(&b) {
                    return Err(invalid(
                        "branch_id",
                        "map onto a real branch, not a legacy one",
                    ));
                }
                b.id
            }
            MapTarget::Default(code) => {
                let existing = db::branches::list(&mut tx)
                    .await?
                    .into_iter()
                    .find(|b| b.code == code);
                match existing {
                    Some(b) => b.id,
                    None => {
                        let d: NewBranch = super::seed::default_branches()
                            .into_iter()
                            .find(|d| d.code == code)
                            .ok_or_else(|| invalid("default_code", "not a default branch"))?;
                        db::branches::upsert(&mut tx, &d, now).await?
                    }
                }
            }
        };
        db::switchover::merge_branch(&mut tx, legacy, to).await?;
        db::activity::log(
            &mut tx,
            Some(by),
            "switchover.branch_mapped",
            Some(("branch", to.0)),
            Some(&serde_json::json!({ "legacy_code": from.code, "label": from.name })),
            now,
        )
        .await?;
        let b = db::branches::by_id(&mut tx, to)
            .await?
            .ok_or_else(|| not_found("branch", to.0))?;
        tx.commit().await?;
        Ok(b)
    }

    /// Sets a branch's details (a legacy branch completed in place, or a real one finished).
    pub async fn set_up_branch(
        &self,
        id: BranchId,
        s: &BranchSetup,
        by: UserId,
    ) -> Result<Branch, AppError> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let mut b = db::branches::by_id(&mut tx, id)
            .await?
            .ok_or_else(|| not_found("branch", id.0))?;
        let text = |v: &Option<String>, field: &'static str| -> Result<Option<String>, AppError> {
            match v.as_deref().map(str::trim) {
                Some("") => Err(invalid(field, "must not be empty")),
                t => Ok(t.map(str::to_owned)),
            }
        };
        if let Some(code) = text(&s.code, "code")? {
            if code.starts_with(LEGACY_PREFIX)
                || !code
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                return Err(invalid(
                    "code",
                    "lower-case letters, digits and dashes, not starting with legacy-",
                ));
            }
            b.code = code;
        }
        if let Some(v) = text(&s.name, "name")? {
            b.name = v;
        }
        if let Some(v) = text(&s.name_ar, "name_ar")? {
            b.name_ar = v;
        }
        if let Some(v) = text(&s.address, "address")? {
            b.address = v;
        }
        if let Some(v) = &s.phone {
            b.phone = Some(v.trim().to_owned()).filter(|p| !p.is_empty());
        }
        match (s.latitude, s.longitude) {
            (None, None) => {}
            (Some(lat), Some(lon))
                if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) =>
            {
                b.latitude = lat;
                b.longitude = lon;
            }
            _ => {
                return Err(invalid(
                    "latitude",
                    "give latitude (-90..90) and longitude (-180..180) together",
                ));
            }
        }
        if let Some(h) = &s.hours {
            b.hours = h.clone();
        }
        if let Some(a) = s.active {
            b.is_active = a;
        }
        if b.is_active && is_legacy(&b) {
            return Err(invalid(
                "code",
                "a legacy branch gets a code of its own (or is mapped) before it takes tickets",
            ));
        }
        if db::branches::code_taken(&mut tx, &b.code, id).await? {
            return Err(invalid("code", "another branch has this code"));
        }
        db::branches::update(&mut tx, &b).await?;
        db::activity::log(
            &mut tx,
            Some(by),
            "switchover.branch_set_up",
            Some(("branch", id.0)),
            None,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(b)
    }

    /// Acts on a carried-over ticket (the caller has checked that `actor` may work on it).
    /// A ticket that is not waiting for review is a conflict.
    pub async fn review_carried_over(
        &self,
        id: TicketId,
        actor: Actor,
        decision: CarryOverDecision,
    ) -> Result<Ticket, AppError> {
        let mut c = self.pool().acquire().await?;
        let t = db::tickets::by_id(&mut c, id)
            .await?
            .ok_or_else(|| not_found("ticket", id.0))?;
        drop(c);
        if t.carried_over_at.is_none() || t.status == crate::domain::ticket::TicketStatus::Closed {
            return Err(AppError::Conflict(format!(
                "ticket {} is not waiting for carried-over review",
                id.0
            )));
        }
        let by = actor.user();
        match decision {
            CarryOverDecision::Close(reason) => {
                return self.close_ticket(id, actor, reason.as_deref()).await;
            }
            CarryOverDecision::Reassign(target, note) => {
                let by = by.ok_or_else(|| AppError::Forbidden("a person reassigns".into()))?;
                self.transfer_ticket(id, by, target, &note).await?;
            }
            CarryOverDecision::Keep => {}
        }
        let now = self.now();
        let mut tx = self.begin().await?;
        db::tickets::end_carry_over(&mut tx, id, now).await?;
        db::activity::log(
            &mut tx,
            by,
            "switchover.ticket_kept",
            Some(("ticket", id.0)),
            None,
            now,
        )
        .await?;
        let t = db::tickets::by_id(&mut tx, id)
            .await?
            .ok_or_else(|| not_found("ticket", id.0))?;
        tx.commit().await?;
        Ok(t)
    }
}
