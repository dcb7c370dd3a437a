//! Noise's SymmetricState (h, chaining key, one handshake cipher) with
//! WhatsApp's primitives: SHA-256, HKDF-SHA256, AES-256-GCM.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};

use super::{PROTOCOL_NAME, TraceEntry};

/// The 12-byte AES-GCM nonce: eight zero bytes, then the counter as u32
/// big-endian (fact sheet part 1 §2.2; whatsmeow `socket/noisehandshake.go`).
pub(crate) fn nonce(counter: u32) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[8..].copy_from_slice(&counter.to_be_bytes());
    iv
}

/// HKDF-SHA256(salt, ikm, info = empty) expanded to 64 bytes, cut in two.
pub(crate) fn hkdf2(salt: &[u8; 32], ikm: &[u8]) -> ([u8; 32], [u8; 32]) {
    let mut okm = [0u8; 64];
    // 64 bytes is far below HKDF-SHA256's 255 × 32 limit, so expand cannot fail.
    let _ = Hkdf::<Sha256>::new(Some(salt), ikm).expand(&[], &mut okm);
    let mut first = [0u8; 32];
    let mut second = [0u8; 32];
    first.copy_from_slice(&okm[..32]);
    second.copy_from_slice(&okm[32..]);
    (first, second)
}

/// Handshake-phase symmetric state. One counter serves encrypt and decrypt and
/// only MixKey resets it; a handshake uses at most counters 0 and 1.
#[derive(Clone)]
pub(crate) struct SymmetricState {
    h: [u8; 32],
    ck: [u8; 32],
    cipher: Option<Aes256Gcm>,
    counter: u32,
    trace: Option<Vec<TraceEntry>>,
}

impl SymmetricState {
    /// InitializeSymmetric with the 32-byte name used directly as h, then MixHash(prologue).
    pub(crate) fn new(prologue: &[u8], trace: bool) -> Self {
        let mut state = Self {
            h: PROTOCOL_NAME,
            ck: PROTOCOL_NAME,
            cipher: None,
            counter: 0,
            trace: trace.then(Vec::new),
        };
        state.mix_hash(prologue);
        state.record("h_after_prologue", state.h);
        state
    }

    pub(crate) fn record(&mut self, label: &'static str, value: [u8; 32]) {
        if let Some(trace) = &mut self.trace {
            trace.push((label, value));
        }
    }

    pub(crate) fn record_h(&mut self, label: &'static str) {
        self.record(label, self.h);
    }

    pub(crate) fn record_ck(&mut self, label: &'static str) {
        self.record(label, self.ck);
    }

    pub(crate) fn take_trace(&mut self) -> Vec<TraceEntry> {
        self.trace.take().unwrap_or_default()
    }

    pub(crate) fn hash(&self) -> [u8; 32] {
        self.h
    }

    pub(crate) fn mix_hash(&mut self, data: &[u8]) {
        let mut hasher = Sha256::new();
        hasher.update(self.h);
        hasher.update(data);
        self.h = hasher.finalize().into();
    }

    pub(crate) fn mix_key(&mut self, ikm: &[u8]) {
        let (ck, key) = hkdf2(&self.ck, ikm);
        self.ck = ck;
        self.cipher = Some(Aes256Gcm::new(&key.into()));
        self.counter = 0;
    }

    /// EncryptAndHash. Before the first MixKey there is no key and, as in
    /// standard Noise, the plaintext passes through (and is hashed).
    pub(crate) fn encrypt_and_hash(&mut self, plaintext: &[u8]) -> Vec<u8> {
        let out = match &self.cipher {
            None => plaintext.to_vec(),
            Some(cipher) => {
                let payload = Payload {
                    msg: plaintext,
                    aad: &self.h,
                };
                // AES-GCM seal fails only for messages above 64 GiB.
                let out = cipher
                    .encrypt(&nonce(self.counter).into(), payload)
                    .unwrap_or_default();
                self.counter = self.counter.saturating_add(1);
                out
            }
        };
        self.mix_hash(&out);
        out
    }

    /// DecryptAndHash; `None` when the tag does not verify (state unchanged then).
    pub(crate) fn decrypt_and_hash(&mut self, ciphertext: &[u8]) -> Option<Vec<u8>> {
        let out = match &self.cipher {
            None => ciphertext.to_vec(),
            Some(cipher) => {
                let payload = Payload {
                    msg: ciphertext,
                    aad: &self.h,
                };
                let out = cipher.decrypt(&nonce(self.counter).into(), payload).ok()?;
                self.counter = self.counter.saturating_add(1);
                out
            }
        };
        self.mix_hash(ciphertext);
        Some(out)
    }

    /// Split: (first key, second key). The initiator writes with the first.
    pub(crate) fn split(&self) -> ([u8; 32], [u8; 32]) {
        hkdf2(&self.ck, &[])
    }
}
