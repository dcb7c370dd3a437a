//! Django password hashes, so imported users log in with their old password.
//!
//! Django stores `pbkdf2_sha256$<iterations>$<salt>$<base64 of the 32-byte derived key>`
//! (PBKDF2-HMAC-SHA256, the derived key as long as one SHA-256 output). The service checks such
//! a hash once, at the user's next login, and replaces it with argon2id
//! (see `App::authenticate`). Django's own argon2 hashes (`argon2$argon2id$...`) are PHC strings
//! behind a prefix and are converted at import time by [`to_service_hash`].

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix of Django's default hasher.
pub const PBKDF2_SHA256_PREFIX: &str = "pbkdf2_sha256$";

/// Refuses absurd iteration counts in a stored hash (a login must not take minutes).
/// Django 5.x uses 870 000-1 000 000.
pub const MAX_ITERATIONS: u32 = 10_000_000;

/// Whether `stored` is a Django `pbkdf2_sha256$...` hash.
pub fn is_django_hash(stored: &str) -> bool {
    stored.starts_with(PBKDF2_SHA256_PREFIX)
}

/// Checks `password` against a Django `pbkdf2_sha256$iterations$salt$hash` string, in constant
/// time over the derived key. Malformed hashes never verify.
pub fn verify(password: &str, stored: &str) -> bool {
    let Some(rest) = stored.strip_prefix(PBKDF2_SHA256_PREFIX) else {
        return false;
    };
    let mut parts = rest.splitn(3, '$');
    let (Some(iterations), Some(salt), Some(expected)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Ok(iterations) = iterations.parse::<u32>() else {
        return false;
    };
    if iterations == 0 || iterations > MAX_ITERATIONS {
        return false;
    }
    let Ok(expected) = base64::engine::general_purpose::STANDARD.decode(expected) else {
        return false;
    };
    if expected.len() != 32 {
        return false;
    }
    let derived = pbkdf2_sha256(password.as_bytes(), salt.as_bytes(), iterations);
    derived
        .iter()
        .zip(&expected)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

/// Builds a Django-format hash (what Django's `make_password` writes with this salt and
/// iteration count). Used by tests and fixtures.
pub fn make(password: &str, salt: &str, iterations: u32) -> String {
    let dk = pbkdf2_sha256(password.as_bytes(), salt.as_bytes(), iterations);
    format!(
        "{PBKDF2_SHA256_PREFIX}{iterations}${salt}${}",
        base64::engine::general_purpose::STANDARD.encode(dk)
    )
}

/// What an imported Django `password` column becomes in `users.password_hash`, and whether
/// the user can log in with it: Django pbkdf2 hashes are kept (checked and upgraded at the
/// next login); Django argon2 hashes become the PHC string they wrap; anything else (unusable
/// `!...` passwords, bcrypt, md5...) is kept but cannot log in, and the report says so.
pub fn to_service_hash(django: &str) -> (String, bool) {
    if is_django_hash(django) {
        return (django.to_owned(), true);
    }
    if let Some(phc) = django.strip_prefix("argon2$") {
        let phc = format!("${phc}");
        let usable = argon2::PasswordHash::new(&phc).is_ok();
        return (phc, usable);
    }
    (django.to_owned(), false)
}

/// PBKDF2-HMAC-SHA256 with a 32-byte output (one block, RFC 8018 section 5.2).
fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let prf = Hmac::<Sha256>::new_from_slice(password).expect("HMAC takes any key length");
    let mut mac = prf.clone();
    mac.update(salt);
    mac.update(&1u32.to_be_bytes());
    let mut u: [u8; 32] = mac.finalize().into_bytes().into();
    let mut out = u;
    for _ in 1..iterations {
        let mut mac = prf.clone();
        mac.update(&u);
        u = mac.finalize().into_bytes().into();
        for (o, x) in out.iter_mut().zip(&u) {
            *o ^= x;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Computed with Python's hashlib.pbkdf2_hmac (what Django's PBKDF2PasswordHasher calls).
    const ARABIC: &str =
        "pbkdf2_sha256$1000$seasalt123$34mzVztv0Li/+jW3w9n8QBr3U4mu5ascoyNpw5a16FI=";
    const ONE: &str = "pbkdf2_sha256$1$salt$Eg+2z/z4syxD5yJSVsT4N6hlSMkszDVICAWYfLcL4Xs=";

    #[test]
    fn known_answers() {
        assert!(verify("كلمة-سر-2024", ARABIC));
        assert!(!verify("كلمة-سر-2025", ARABIC));
        assert!(verify("password", ONE));
        assert_eq!(make("password", "salt", 1), ONE);
        assert_eq!(make("كلمة-سر-2024", "seasalt123", 1000), ARABIC);
    }

    #[test]
    fn malformed_hashes_never_verify() {
        for bad in [
            "",
            "pbkdf2_sha256$",
            "pbkdf2_sha256$0$salt$Eg+2z/z4syxD5yJSVsT4N6hlSMkszDVICAWYfLcL4Xs=",
            "pbkdf2_sha256$x$salt$Eg+2z/z4syxD5yJSVsT4N6hlSMkszDVICAWYfLcL4Xs=",
            "pbkdf2_sha256$99999999999$salt$Eg+2z/z4syxD5yJSVsT4N6hlSMkszDVICAWYfLcL4Xs=",
            "pbkdf2_sha256$1$salt$not base64",
            "pbkdf2_sha256$1$salt$AAAA",
            "pbkdf2_sha1$1$salt$Eg+2z/z4syxD5yJSVsT4N6hlSMkszDVICAWYfLcL4Xs=",
            "!unusable",
        ] {
            assert!(!verify("password", bad), "{bad}");
        }
    }

    #[test]
    fn service_hash_forms() {
        assert_eq!(to_service_hash(ONE), (ONE.to_owned(), true));
        let (h, ok) = to_service_hash("!Xk3unusable");
        assert!(!ok && h == "!Xk3unusable");
        let (h, ok) = to_service_hash(
            "argon2$argon2id$v=19$m=102400,t=2,p=8$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        );
        assert!(ok, "{h}");
        assert!(h.starts_with("$argon2id$"));
        assert!(!to_service_hash("bcrypt_sha256$$2b$12$abc").1);
    }
}
