//! Password hashes (argon2id) and the one gate every hash passes: at most a few at a time, each
//! on a blocking thread.
//!
//! A hash takes 46 MiB and tens of milliseconds of one core. Unbounded, 100 concurrent wrong
//! logins raised the process's peak memory by ~1.8 GB (issue 19, item 1), and a hash on a
//! runtime worker stalled every other request. [`PasswordWork`] admits [`default_permits`]
//! hashes at once; the rest wait their turn without memory of their own.

use super::AppError;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::Semaphore;

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

/// Hashes a password with argon2id (PHC string). Blocks for tens of milliseconds: the service
/// calls it through [`PasswordWork::run`].
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

/// Checks a password against a PHC string (with the parameters the string names). Blocks like
/// [`hash_password`].
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

/// The outcome of checking a password against a stored hash.
pub(crate) enum Check {
    Wrong,
    Right,
    /// Right, and the stored hash is to be replaced by this one.
    Replace(String),
}

impl Check {
    pub(crate) fn is_right(&self) -> bool {
        !matches!(self, Check::Wrong)
    }
}

/// Checks `password` against `stored`; `None` (an unknown or deactivated user) costs one
/// argon2id check too, so the answer's timing does not tell which logins exist.
pub(crate) fn check_password(password: &str, stored: Option<&str>) -> Result<Check, AppError> {
    let Some(stored) = stored else {
        verify_password(password, &DUMMY_HASH);
        return Ok(Check::Wrong);
    };
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

/// A real argon2id hash of nothing anyone knows (made once, at the first unknown login).
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let mut secret = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
    hash_password(&hex::encode(secret)).unwrap_or_default()
});

/// Concurrent hashes admitted by default: half the cores, at least one and at most four, so
/// the runtime keeps a core for everything else and 100 concurrent wrong logins stay under
/// 4 × 46 MiB of hash memory.
pub fn default_permits() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get() / 2)
        .clamp(1, 4)
}

/// The gate of every password hash and check: a semaphore of a few permits, each hash on a
/// blocking thread, counted (now and at most) so tests and `/metrics` can see the bound hold.
#[derive(Debug)]
pub struct PasswordWork {
    permits: Arc<Semaphore>,
    limit: usize,
    running: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    done: Arc<AtomicUsize>,
}

impl PasswordWork {
    /// A gate admitting `limit` hashes at once (at least one).
    pub fn new(limit: usize) -> PasswordWork {
        let limit = limit.max(1);
        PasswordWork {
            permits: Arc::new(Semaphore::new(limit)),
            limit,
            running: Arc::new(AtomicUsize::new(0)),
            peak: Arc::new(AtomicUsize::new(0)),
            done: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// How many hashes may run at once.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The most hashes that ever ran at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// How many hashes and checks ran through the gate.
    pub fn done(&self) -> usize {
        self.done.load(Ordering::SeqCst)
    }

    /// Runs `f` (a hash or a check) on a blocking thread once a permit is free. The permit
    /// travels with the thread: a caller that gives up (a closed connection drops the request)
    /// cannot free it while the hash still runs.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| std::io::Error::other(format!("password gate: {e}")))?;
        let (running, peak, done) = (self.running.clone(), self.peak.clone(), self.done.clone());
        tokio::task::spawn_blocking(move || {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            let out = f();
            running.fetch_sub(1, Ordering::SeqCst);
            done.fetch_add(1, Ordering::SeqCst);
            drop(permit);
            out
        })
        .await
        .map_err(|e| AppError::Io(std::io::Error::other(format!("password hash: {e}"))))
    }

    /// [`hash_password`] through the gate.
    pub async fn hash(&self, password: &str) -> Result<String, AppError> {
        let password = password.to_owned();
        self.run(move || hash_password(&password)).await?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_current_ones_are_not_outdated() {
        let h = hash_password("correct-horse-1").unwrap();
        assert!(verify_password("correct-horse-1", &h));
        assert!(!verify_password("correct-horse-2", &h));
        assert!(!outdated_hash(&h));
        assert!(matches!(check_password("x", None).unwrap(), Check::Wrong));
    }

    #[tokio::test]
    async fn the_gate_admits_its_limit_at_once() {
        let gate = Arc::new(PasswordWork::new(2));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let g = gate.clone();
            tasks.push(tokio::spawn(async move {
                g.run(|| std::thread::sleep(std::time::Duration::from_millis(20)))
                    .await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert!((1..=2).contains(&gate.peak()), "{}", gate.peak());
    }
}
