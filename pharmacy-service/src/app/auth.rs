//! Users, logins and password changes, with the login throttle. Hashes go through the
//! [`PasswordWork`](super::PasswordWork) gate; sessions and tokens are in `sessions.rs`.
//!
//! The throttle (issue 19, item 2) counts failed password checks (logins and the current
//! password of a change alike) per account from any address and per (address, account) pair,
//! never per address alone: failures with other names from a shared address (a branch PC, a
//! reverse proxy) never lock a different account out. An attempt is recorded as failed, in
//! the same write transaction as the check, before its password is hashed, so concurrent
//! attempts cannot all pass the check, and a refused one costs no hash.

use super::passwords::{Check, check_password};
use super::{App, AppError};
use crate::db;
use crate::db::users::{Failures, Role, User};
use crate::domain::ids::{AgentId, BranchId, UserId};
use crate::domain::schedule::WeeklyHours;
use crate::domain::time::Timestamp;
use serde::Deserialize;
use std::time::Duration;

/// Failures of one account (from any address) before its first lockout.
pub const ACCOUNT_THRESHOLD: i64 = 10;
/// Failures of one account from one address before that pair's first lockout.
pub const PAIR_THRESHOLD: i64 = 5;

/// Growing lockout after `threshold` consecutive failures: 30 s, doubling per further
/// failure, at most an hour.
pub fn lockout(failures: i64, threshold: i64) -> Option<Duration> {
    if failures < threshold {
        return None;
    }
    let exp = (failures - threshold).min(7) as u32;
    Some(Duration::from_secs((30u64 << exp).min(3600)))
}

/// The one spelling of a login name for lookups and the throttle: without surrounding Unicode
/// whitespace (tabs, no-break spaces...), ASCII letters in lower case (SQLite's `NOCASE`, which
/// the `users.username` column uses, folds ASCII only).
pub fn normalize_username(name: &str) -> String {
    name.trim().to_ascii_lowercase()
}

/// How a password check ended.
#[derive(Debug, Clone, PartialEq)]
pub enum LoginOutcome {
    /// The password is right (the user is active).
    Accepted(User),
    /// Unknown user, wrong password or a deactivated account (the same answer for each).
    Refused,
    /// Too many failures: nothing was checked; retry after this long.
    Throttled(Duration),
}

impl LoginOutcome {
    /// The user, when accepted.
    pub fn user(self) -> Option<User> {
        match self {
            LoginOutcome::Accepted(u) => Some(u),
            _ => None,
        }
    }
}

/// How long `f` still locks at `now`, if at all.
fn locked_for(f: Failures, threshold: i64, now: Timestamp) -> Option<Duration> {
    let until = f.last?.plus(lockout(f.count, threshold)?);
    (until > now).then(|| until.since(now))
}

/// A user to create; agents get an agent seat in `branch_id`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct NewUser {
    /// Login name.
    pub username: String,
    /// Display name.
    pub name: String,
    /// E-mail.
    pub email: Option<String>,
    /// Password (hashed here).
    pub password: String,
    /// Role.
    pub role: Role,
    /// Agents: their branch.
    pub branch_id: Option<BranchId>,
    /// Agents: maximum open tickets (default 10).
    pub capacity: Option<u32>,
}

impl App {
    /// Creates a user (and an agent seat for agents). `by` is the admin doing it (audit).
    pub async fn create_user(
        &self,
        u: &NewUser,
        by: Option<UserId>,
    ) -> Result<(UserId, Option<AgentId>), AppError> {
        if u.username.trim().is_empty() {
            return Err(AppError::Invalid {
                field: "username",
                message: "required".into(),
            });
        }
        if u.password.chars().count() < 8 {
            return Err(AppError::Invalid {
                field: "password",
                message: "at least 8 characters".into(),
            });
        }
        let hash = self.passwords().hash(&u.password).await?;
        let now = self.now();
        let mut tx = self.begin().await?;
        if db::users::by_username(&mut tx, u.username.trim())
            .await?
            .is_some()
        {
            return Err(AppError::Conflict(format!(
                "username {} is taken",
                u.username
            )));
        }
        let id = db::users::insert(
            &mut tx,
            u.username.trim(),
            &u.name,
            u.email.as_deref(),
            &hash,
            u.role,
            now,
        )
        .await?;
        let agent = if u.role == Role::Agent {
            Some(
                db::agents::insert(
                    &mut tx,
                    id,
                    u.branch_id,
                    u.capacity.unwrap_or(10),
                    &WeeklyHours::default(),
                    now,
                )
                .await?,
            )
        } else {
            None
        };
        db::activity::log(
            &mut tx,
            by,
            "user.created",
            Some(("user", id.0)),
            Some(&serde_json::json!({ "username": u.username, "role": u.role })),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok((id, agent))
    }

    /// Checks a login (throttled; records the attempt). Throttled counts as refused: see
    /// [`App::login`] for the distinction.
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
        address: Option<&str>,
    ) -> Result<Option<User>, AppError> {
        Ok(self.login(username, password, address).await?.user())
    }

    /// Checks a login: the throttle first (claiming an attempt), then the password on the
    /// [`PasswordWork`](super::PasswordWork) gate, outside any transaction (a check takes tens
    /// of milliseconds; holding SQLite's write lock meanwhile would stall every inbound
    /// message). Unknown users, wrong passwords and deactivated accounts cost one check alike.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        address: Option<&str>,
    ) -> Result<LoginOutcome, AppError> {
        let name = normalize_username(username);
        let attempt = match self.claim_attempt(&name, address).await? {
            Ok(id) => id,
            Err(wait) => return Ok(LoginOutcome::Throttled(wait)),
        };
        let user = {
            let mut c = self.read().await?;
            db::users::by_username(&mut c, &name).await?
        };
        let active = user.filter(|u| u.is_active);
        let stored = active.as_ref().map(|u| u.password_hash.clone());
        let password = password.to_owned();
        let check = self
            .passwords()
            .run(move || check_password(&password, stored.as_deref()))
            .await??;
        match (check.is_right(), active) {
            (true, Some(u)) => {
                self.settle_attempt(attempt, &u, check).await?;
                Ok(LoginOutcome::Accepted(u))
            }
            _ => Ok(LoginOutcome::Refused),
        }
    }

    /// Checks a logged-in user's current password (before a change), throttled like a login.
    pub async fn check_current_password(
        &self,
        user: UserId,
        password: &str,
        address: Option<&str>,
    ) -> Result<LoginOutcome, AppError> {
        let u = {
            let mut c = self.read().await?;
            db::users::by_id(&mut c, user).await?
        }
        .ok_or_else(|| super::not_found("user", user.0))?;
        self.login(&u.username, password, address).await
    }

    /// Sets a user's password (8 characters at least): their sessions end (all but `keep`, the
    /// hash of the session changing its own), their API tokens are revoked; their own change
    /// ends a required change, someone else's reset requires one at the next login. Logged as
    /// `by`'s change (their own) or reset (someone else's). `false` when there is no such user.
    pub async fn set_password(
        &self,
        user: UserId,
        password: &str,
        keep: Option<&str>,
        by: UserId,
    ) -> Result<bool, AppError> {
        if password.chars().count() < 8 {
            return Err(AppError::Invalid {
                field: "new_password",
                message: "at least 8 characters".into(),
            });
        }
        let hash = self.passwords().hash(password).await?;
        let now = self.now();
        let mut tx = self.begin().await?;
        if !db::users::set_password_hash(&mut tx, user, &hash).await? {
            return Ok(false);
        }
        // A password an admin set is known to two people: the user replaces it at the next
        // login, as with the first admin's random one.
        db::users::set_must_change_password(&mut tx, user, by != user).await?;
        db::users::end_sessions(&mut tx, user, keep).await?;
        db::users::revoke_tokens(&mut tx, user, now).await?;
        let action = if by == user {
            "user.password_changed"
        } else {
            "user.password_reset"
        };
        db::activity::log(
            &mut tx,
            Some(by),
            action,
            Some(("user", user.0)),
            Some(&serde_json::json!({})),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Until `user` changes their password, the API refuses them everything else.
    pub async fn require_password_change(&self, user: UserId) -> Result<(), AppError> {
        let mut c = self.read().await?;
        db::users::set_must_change_password(&mut c, user, true).await?;
        Ok(())
    }

    /// The throttle's check and the attempt's record, in one write transaction: the attempt's
    /// id, or how long the account (or this address's use of it) is locked.
    async fn claim_attempt(
        &self,
        name: &str,
        address: Option<&str>,
    ) -> Result<Result<i64, Duration>, AppError> {
        let now = self.now();
        // Consecutive failures, looking back a day at most.
        let since = now.minus(Duration::from_secs(86_400));
        let mut tx = self.begin().await?;
        let (account, pair) = db::users::login_failures(&mut tx, name, address, since).await?;
        let wait = [
            locked_for(account, ACCOUNT_THRESHOLD, now),
            locked_for(pair, PAIR_THRESHOLD, now),
        ]
        .into_iter()
        .flatten()
        .max();
        if let Some(wait) = wait {
            return Ok(Err(wait));
        }
        let id = db::users::record_login_attempt(&mut tx, name, address, false, now).await?;
        tx.commit().await?;
        Ok(Ok(id))
    }

    /// A right password: the attempt becomes a success, and an outdated hash is replaced (only
    /// if it is still the one checked: a change in between wins).
    async fn settle_attempt(&self, attempt: i64, u: &User, check: Check) -> Result<(), AppError> {
        let mut tx = self.begin().await?;
        if let Check::Replace(hash) = &check {
            db::users::replace_password_hash(&mut tx, u.id, &u.password_hash, hash).await?;
        }
        db::users::mark_login_success(&mut tx, attempt).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockouts_grow_and_cap() {
        assert_eq!(lockout(4, 5), None);
        assert_eq!(lockout(5, 5), Some(Duration::from_secs(30)));
        assert_eq!(lockout(6, 5), Some(Duration::from_secs(60)));
        assert_eq!(lockout(50, 5), Some(Duration::from_secs(3600)));
    }

    #[test]
    fn usernames_have_one_spelling() {
        for raw in [
            "Toriel.1",
            " toriel.1",
            "toriel.1 ",
            "\ttoriel.1\t",
            "\u{a0}TORIEL.1\u{2003}",
        ] {
            assert_eq!(normalize_username(raw), "toriel.1", "{raw:?}");
        }
        assert_eq!(normalize_username(" صيدلية "), "صيدلية");
    }
}
