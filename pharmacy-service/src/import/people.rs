//! Users, admins, agents and the branches agents belong to.

use super::context::Ctx;
use super::django_password::to_service_hash;
use super::error::{ImportError, WriteContext};
use super::mapping::slug;
use super::source::{Row, Source};
use crate::app::{LEGACY_PREFIX, PLACEHOLDER_LOCATION};
use crate::db;
use crate::db::branches::Branch;
use crate::db::users::Role;
use crate::domain::ids::{BranchId, UserId};
use crate::domain::schedule::WeeklyHours;
use crate::domain::search::normalize;
use std::collections::{HashMap, HashSet};

/// The Django tables people come from.
pub(crate) struct PeopleTables {
    /// `conversations_user` (custom user model) or `auth_user`.
    pub users: String,
    /// `conversations_agent`.
    pub agents: String,
}

/// The user table of the source: the app's own user model if it has one, else Django's.
pub(crate) fn tables(src: &Source) -> PeopleTables {
    let custom = src.model("user");
    PeopleTables {
        users: if src.has(&custom) {
            custom
        } else {
            "auth_user".into()
        },
        agents: src.model("agent"),
    }
}

/// Imports users (role from superuser/staff flags and the Admin and Agent tables), then agents
/// with their branches.
pub(crate) async fn import(ctx: &mut Ctx, src: &mut Source) -> Result<(), ImportError> {
    let t = tables(src);
    let admin_table = src.model("admin");
    let branch_table = src.model("branch");
    for table in [&t.users, &t.agents] {
        if !src.has(table) {
            ctx.report.absent_tables.push(table.clone());
        }
    }
    let users = src.rows(&t.users).await?;
    let admins = src.rows(&admin_table).await?;
    let agents = src.rows(&t.agents).await?;
    let branch_names: HashMap<String, String> = src
        .rows(&branch_table)
        .await?
        .iter()
        .filter_map(|b| Some((b.id(), b.text(&["name", "name_ar", "title", "code"])?)))
        .collect();
    let admin_users: HashSet<String> = admins.iter().filter_map(|r| r.text(&["user_id"])).collect();
    let agent_users: HashSet<String> = agents.iter().filter_map(|r| r.text(&["user_id"])).collect();
    for u in &users {
        let id = u.id();
        let admin = u.flag(&["is_superuser"]).unwrap_or(false)
            || admin_users.contains(&id)
            || (u.flag(&["is_staff"]).unwrap_or(false) && !agent_users.contains(&id));
        user(ctx, u, if admin { Role::Admin } else { Role::Agent }).await?;
    }
    for a in &admins {
        let id = a.id();
        if ctx.skip_row("admins", a) {
            continue;
        }
        let uid = a.text(&["user_id"]).unwrap_or_default();
        match ctx.target(&t.users, &uid) {
            Some(user) => {
                ctx.record(&a.table, &id, "users", Some(user)).await?;
                ctx.report.counts("admins").merged += 1;
            }
            None => ctx.report.unmappable(
                "admins",
                &a.table,
                &id,
                format!("user {uid} was not imported"),
            ),
        }
    }
    for a in &agents {
        agent(ctx, a, &t.users, &branch_names).await?;
    }
    Ok(())
}

async fn user(ctx: &mut Ctx, r: &Row, role: Role) -> Result<(), ImportError> {
    let (table, id) = (r.table.as_str(), r.id());
    if ctx.skip_row("users", r) {
        return Ok(());
    }
    let Some(username) = r.text(&["username"]) else {
        ctx.report.unmappable("users", table, &id, "no username");
        return Ok(());
    };
    if let Some(existing) = db::users::by_username(&mut ctx.tx, &username)
        .await
        .row("users", table, &id)?
    {
        ctx.record(table, &id, "users", Some(existing.id.0)).await?;
        ctx.report.counts("users").merged += 1;
        ctx.report.adjusted(
            "users",
            table,
            &id,
            format!(
                "login {username:?} already exists in the service: linked to it, its password kept"
            ),
        );
        return Ok(());
    }
    let full = [r.text(&["first_name"]), r.text(&["last_name"])]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let name = if full.is_empty() {
        r.text(&["name", "full_name"])
            .unwrap_or_else(|| username.clone())
    } else {
        full
    };
    let (hash, usable) = to_service_hash(&r.text(&["password"]).unwrap_or_default());
    if !usable {
        ctx.report.adjusted(
            "users",
            table,
            &id,
            format!("{username}: the password cannot be checked by the service (unusable or unsupported hash); give them a new one"),
        );
    }
    let created = r
        .time(&["date_joined", "created_at"], &ctx.tz)
        .unwrap_or(ctx.now);
    let new_id: i64 = sqlx::query_scalar(
        "INSERT INTO users (username, name, email, password_hash, role, is_active, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(&username)
    .bind(&name)
    .bind(r.text(&["email"]))
    .bind(&hash)
    .bind(role.as_str())
    .bind(r.flag(&["is_active"]).unwrap_or(true))
    .bind(created)
    .fetch_one(&mut *ctx.tx)
    .await
    .row("users", table, &id)?;
    ctx.record(table, &id, "users", Some(new_id)).await?;
    ctx.report.counts("users").imported += 1;
    Ok(())
}

async fn agent(
    ctx: &mut Ctx,
    r: &Row,
    user_table: &str,
    branch_names: &HashMap<String, String>,
) -> Result<(), ImportError> {
    let (table, id) = (r.table.as_str(), r.id());
    if ctx.skip_row("agents", r) {
        return Ok(());
    }
    let uid = r.text(&["user_id"]).unwrap_or_default();
    let Some(user) = ctx.target(user_table, &uid) else {
        ctx.report.unmappable(
            "agents",
            table,
            &id,
            format!("user {uid:?} was not imported"),
        );
        return Ok(());
    };
    if let Some(seat) = db::agents::by_user(&mut ctx.tx, UserId(user))
        .await
        .row("agents", table, &id)?
    {
        ctx.record(table, &id, "agents", Some(seat.id.0)).await?;
        ctx.report.counts("agents").merged += 1;
        return Ok(());
    }
    let branch_label = r.text(&["branch", "branch_name"]).or_else(|| {
        r.text(&["branch_id"])
            .and_then(|b| branch_names.get(&b).cloned())
    });
    let branch = match branch_label {
        Some(label) => Some(branch(ctx, table, &id, &label).await?),
        None => None,
    };
    let capacity = r
        .int(&[
            "max_tickets",
            "capacity",
            "max_concurrent_tickets",
            "max_active_tickets",
        ])
        .map_or(10, |c| c.clamp(0, 1000) as u32);
    let agent = db::agents::insert(
        &mut ctx.tx,
        UserId(user),
        branch,
        capacity,
        &WeeklyHours::default(),
        ctx.now,
    )
    .await
    .row("agents", table, &id)?;
    ctx.record(table, &id, "agents", Some(agent.0)).await?;
    ctx.report.counts("agents").imported += 1;
    Ok(())
}

/// The service branch for a Django branch label: a branch whose code or (English or Arabic)
/// name matches, else a new inactive branch the admin completes (address, location, hours).
async fn branch(
    ctx: &mut Ctx,
    agent_table: &str,
    agent_id: &str,
    label: &str,
) -> Result<BranchId, ImportError> {
    let key_table = format!("{agent_table}.branch");
    if let Some(b) = ctx.target(&key_table, label) {
        return Ok(BranchId(b));
    }
    let branches = db::branches::list(&mut ctx.tx)
        .await
        .step("reading branches")?;
    if let Some(b) = match_branch(label, &branches) {
        ctx.record(&key_table, label, "branches", Some(b.0)).await?;
        ctx.report.counts("branches").merged += 1;
        return Ok(b);
    }
    let base = match slug(label) {
        s if s.is_ascii() && !s.is_empty() => format!("{LEGACY_PREFIX}{s}"),
        _ => format!("{LEGACY_PREFIX}{}", branches.len() + 1),
    };
    let mut code = base.clone();
    let mut n = 2;
    while branches.iter().any(|b| b.code == code) {
        code = format!("{base}-{n}");
        n += 1;
    }
    let hours = serde_json::to_string(&WeeklyHours::default()).unwrap_or_else(|_| "{}".into());
    // Mansoura city centre until the admin sets the real location; inactive meanwhile, so
    // no customer is routed there by distance.
    let b: i64 = sqlx::query_scalar(
        "INSERT INTO branches (code, name, name_ar, address, latitude, longitude, hours_json, is_active, created_at)
         VALUES (?, ?, ?, '', ?, ?, ?, 0, ?) RETURNING id",
    )
    .bind(&code)
    .bind(label)
    .bind(label)
    .bind(PLACEHOLDER_LOCATION.0)
    .bind(PLACEHOLDER_LOCATION.1)
    .bind(hours)
    .bind(ctx.now)
    .fetch_one(&mut *ctx.tx)
    .await
    .row("branches", agent_table, agent_id)?;
    ctx.record(&key_table, label, "branches", Some(b)).await?;
    ctx.report.counts("branches").imported += 1;
    ctx.report.adjusted(
        "branches",
        agent_table,
        agent_id,
        format!("branch {label:?} matches no service branch: created as {code} (inactive; set its address, location and hours)"),
    );
    Ok(BranchId(b))
}

fn branch_key(s: &str) -> String {
    let n = normalize(s).replace(['-', '–', '—', '_', '.', ','], " ");
    let words: Vec<&str> = n
        .split_whitespace()
        .filter(|w| !matches!(*w, "فرع" | "branch" | "st" | "street" | "شارع"))
        .collect();
    words.join(" ")
}

/// Whether a Django branch label names this branch: equal to its code or name (any spelling of
/// Arabic letters), or to the part of its name after the dash ("Toriel", "توريل", "فرع توريل").
pub fn label_matches(label: &str, code: &str, name: &str, name_ar: &str) -> bool {
    let want = branch_key(label);
    if want.is_empty() {
        return false;
    }
    let mut keys = vec![branch_key(code), branch_key(name), branch_key(name_ar)];
    for name in [name, name_ar] {
        if let Some((_, tail)) = name.split_once('–') {
            keys.push(branch_key(tail));
        }
    }
    keys.iter().any(|k| {
        !k.is_empty()
            && (*k == want
                || (want.chars().count() >= 4 && k.split(' ').count() <= 3 && k.contains(&want))
                || (k.chars().count() >= 4
                    && want.contains(k.as_str())
                    && k.split(' ').count() <= 3))
    })
}

/// The branch a Django label names, if exactly one matches ([`label_matches`]).
pub fn match_branch(label: &str, branches: &[Branch]) -> Option<BranchId> {
    let mut found = branches
        .iter()
        .filter(|b| label_matches(label, &b.code, &b.name, &b.name_ar))
        .map(|b| b.id);
    match (found.next(), found.next()) {
        (Some(b), None) => Some(b),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::Timestamp;

    fn b(id: i64, code: &str, name: &str, name_ar: &str) -> Branch {
        Branch {
            id: BranchId(id),
            code: code.into(),
            name: name.into(),
            name_ar: name_ar.into(),
            address: String::new(),
            phone: None,
            latitude: 0.0,
            longitude: 0.0,
            hours: WeeklyHours::default(),
            is_active: true,
            created_at: Timestamp(0),
        }
    }

    #[test]
    fn branch_labels() {
        let all = [
            b(
                1,
                "toriel",
                "Khalifa Pharmacy – Toriel",
                "صيدلية خليفة – توريل",
            ),
            b(
                2,
                "el-gaish",
                "Khalifa Pharmacy – El Gaish St",
                "صيدلية خليفة – شارع الجيش",
            ),
            b(
                3,
                "talkha",
                "Khalifa Pharmacy – Talkha",
                "صيدلية خليفة – طلخا",
            ),
        ];
        for (label, want) in [
            ("Toriel", Some(1)),
            ("toriel", Some(1)),
            ("فرع توريل", Some(1)),
            ("El Gaish", Some(2)),
            ("الجيش", Some(2)),
            ("Talkha Branch", Some(3)),
            ("طلخا", Some(3)),
            ("Sandoub", None),
            ("Khalifa Pharmacy", None),
            ("", None),
        ] {
            assert_eq!(match_branch(label, &all).map(|b| b.0), want, "{label}");
        }
    }
}
