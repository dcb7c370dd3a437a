//! Users and passwords (argon2id). Sessions, tokens and throttling belong to the HTTP layer.

use super::{App, AppError};
use crate::db;
use crate::db::users::{Role, User};
use crate::domain::ids::{AgentId, BranchId, UserId};
use crate::domain::schedule::WeeklyHours;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::Deserialize;

/// Hashes a password with argon2id (PHC string).
pub fn hash_password(password: &str) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::Invalid {
            field: "password",
            message: e.to_string(),
        })
}

/// Checks a password against a PHC string.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
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
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
        address: Option<&str>,
    ) -> Result<Option<User>, AppError> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let user = db::users::by_username(&mut tx, username).await?;
        // Users imported from the Django system (issue 13) keep Django's
        // `pbkdf2_sha256$...` hash until their first login, which checks it and replaces it
        // with argon2id, so nobody has to reset a password after the switch-over.
        let django = user.as_ref().filter(|u| {
            u.is_active && crate::import::django_password::verify(password, &u.password_hash)
        });
        if let Some(u) = django {
            db::users::set_password_hash(&mut tx, u.id, &hash_password(password)?).await?;
        }
        let ok = django.is_some()
            || user
                .as_ref()
                .is_some_and(|u| u.is_active && verify_password(password, &u.password_hash));
        db::users::record_login_attempt(&mut tx, username, address, ok, now).await?;
        tx.commit().await?;
        Ok(if ok { user } else { None })
    }
}
