//! WhatsApp's plaintext padding, applied before Signal encryption and removed after decryption
//! (part 2 §4.2, §5.2): `n` bytes each equal to `n` are appended, `n` in 1..=16.

use rand_core::{CryptoRng, RngCore};

use super::error::SignalError;

/// Appends 1..=16 padding bytes, as WA Web does (`(random & 0x0F) + 1`).
///
/// ```
/// use rand::SeedableRng;
/// use whatsapp_proto::signal::{pad, unpad};
/// let mut rng = rand_chacha::ChaCha20Rng::from_seed([0; 32]);
/// let padded = pad(b"hello", &mut rng);
/// assert!(padded.len() > 5 && padded.len() <= 21);
/// assert_eq!(unpad(&padded).unwrap(), b"hello");
/// ```
pub fn pad(plaintext: &[u8], rng: &mut (impl RngCore + CryptoRng)) -> Vec<u8> {
    let mut byte = [0u8; 1];
    rng.fill_bytes(&mut byte);
    pad_with(plaintext, (byte[0] & 0x0F) + 1)
}

/// Appends `n` bytes of value `n` (deterministic; `n` should be 1..=16 for WhatsApp peers).
pub fn pad_with(plaintext: &[u8], n: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(plaintext.len() + usize::from(n));
    out.extend_from_slice(plaintext);
    out.resize(plaintext.len() + usize::from(n), n);
    out
}

/// Removes the padding: the last byte `n` must be at least 1, at most the length, and the last `n`
/// bytes must all equal `n` (whatsmeow and whatsapp-rust check all of them; padding 0, which
/// whatsmeow and Baileys tolerate, is refused as no WhatsApp client produces it).
pub fn unpad(padded: &[u8]) -> Result<&[u8], SignalError> {
    let (&n, _) = padded.split_last().ok_or(SignalError::BadPadding {
        reason: "empty plaintext",
    })?;
    if n == 0 {
        return Err(SignalError::BadPadding {
            reason: "padding length 0",
        });
    }
    let keep = padded
        .len()
        .checked_sub(usize::from(n))
        .ok_or(SignalError::BadPadding {
            reason: "padding longer than the plaintext",
        })?;
    let (body, padding) = padded.split_at(keep);
    if padding.iter().any(|&b| b != n) {
        return Err(SignalError::BadPadding {
            reason: "padding bytes differ from the length",
        });
    }
    Ok(body)
}
