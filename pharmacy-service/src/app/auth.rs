//! Users and passwords (argon2id). Sessions, tokens and throttling belong to the HTTP layer.

use super::{App, AppError};
use crate::db;
use crate::db::users::{Role, User};
use crate::domain::ids::{AgentId, BranchId, UserId};
use crate::domain::schedule::WeeklyHours;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::Deserialize;

/// argon2id with 46 MiB, one pass, one lane: the first of the equivalent settings of OWASP's
/// Password Storage Cheat Sheet (the crate's default, 19 MiB and two passes, is another). Chosen
/// for memory: glibc gives a block above 32 MiB (the most its mmap threshold ever rises to) a
/// mapping of its own, returned when the hash is done; a 19 MiB block raised the threshold once
/// freed, and the next hash's block then stayed in the heap, resident while the service idles.
const HASH_MEMORY_KIB: u32 = 47_104;
const HASH_PASSES: u32 = 1;
const HASH_LANES: u32 = 1;

fn argon2() -> Argon2<'static> {
    let params = Params::new(HASH_MEMORY_KIB, HASH_PASSES, HASH_LANES, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password with argon2id (PHC string).
pub fn hash_password(password: &str) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::Invalid {
            field: "password",
            message: e.to_string(),
        })
}

/// Checks a password against a PHC string (with the parameters the string names).
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
}

/// Whether a stored hash was made with other settings than [`hash_password`] uses now (it is
/// replaced at the user's next successful login).
fn outdated_hash(phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        h.algorithm != Algorithm::Argon2id.ident()
            || Params::try_from(&h).is_ok_and(|p| {
                (p.m_cost(), p.t_cost(), p.p_cost()) != (HASH_MEMORY_KIB, HASH_PASSES, HASH_LANES)
            })
    })
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
        let hash = hash_password(&u.password)?;
        let now = self.now();
        let mut tx = self.begin().await?;
        if db::users::by_username(&mut tx, &u.username)
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

    /// Checks a login (records the attempt). `None` for unknown users, wrong passwords and
    /// deactivated accounts alike.
    ///
    /// The password is checked on a blocking thread and outside any transaction: a check takes
    /// tens of milliseconds, which would otherwise stall a runtime worker and hold SQLite's
    /// write lock (every inbound message waiting behind a login).
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
        address: Option<&str>,
    ) -> Result<Option<User>, AppError> {
        let user = {
            let mut c = self.pool().acquire().await?;
            db::users::by_username(&mut c, username).await?
        };
        let check = match user.as_ref().filter(|u| u.is_active) {
            Some(u) => {
                let (password, stored) = (password.to_owned(), u.password_hash.clone());
                tokio::task::spawn_blocking(move || check_password(&password, &stored))
                    .await
                    .map_err(|e| std::io::Error::other(format!("password check: {e}")))??
            }
            None => Check::Wrong,
        };
        let now = self.now();
        let mut tx = self.begin().await?;
        if let (Check::Replace(hash), Some(u)) = (&check, &user) {
            // Only if the hash checked is still the stored one (a change in between wins).
            db::users::replace_password_hash(&mut tx, u.id, &u.password_hash, hash).await?;
        }
        let ok = !matches!(check, Check::Wrong);
        db::users::record_login_attempt(&mut tx, username, address, ok, now).await?;
        tx.commit().await?;
        Ok(if ok { user } else { None })
    }
}

/// The outcome of checking a password against a stored hash.
enum Check {
    Wrong,
    Right,
    /// Right, and the stored hash is to be replaced by this one.
    Replace(String),
}

fn check_password(password: &str, stored: &str) -> Result<Check, AppError> {
    // Users imported from the Django system (issue 13) keep Django's `pbkdf2_sha256$...` hash
    // until their first login, which checks it and replaces it with argon2id, so nobody has to
    // reset a password after the switch-over.
    if crate::import::django_password::verify(password, stored) {
        return Ok(Check::Replace(hash_password(password)?));
    }
    if !verify_password(password, stored) {
        return Ok(Check::Wrong);
    }
    Ok(if outdated_hash(stored) {
        Check::Replace(hash_password(password)?)
    } else {
        Check::Right
    })
}
