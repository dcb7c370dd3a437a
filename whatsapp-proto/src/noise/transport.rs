//! The post-handshake frame cipher: AES-256-GCM, empty AAD, one u32 counter
//! per direction (fact sheet part 1 §2.6; whatsmeow `socket/noisesocket.go`).

use aes_gcm::aead::Aead;
use aes_gcm::{Aes256Gcm, KeyInit};

use super::symmetric::nonce;

/// Length of the AES-GCM tag that ends every transport ciphertext.
pub const TAG_LEN: usize = 16;

/// Which half of a [`Transport`] an error concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Direction {
    /// Frames we send.
    Write,
    /// Frames we receive.
    Read,
}

/// A transport-phase failure.
///
/// `CounterExhausted` is a local limit (the connection must be re-established);
/// `TooShort` and `Decrypt` mean the peer (or the network) delivered a frame
/// that is not ours to read, and the connection should be dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// 2^32 frames were already sent or received in this direction; the
    /// counter never wraps, since a repeated GCM nonce would leak the key.
    #[error("{direction:?} counter exhausted after 2^32 frames")]
    CounterExhausted {
        /// The exhausted direction.
        direction: Direction,
    },
    /// The ciphertext is shorter than the 16-byte tag.
    #[error("ciphertext of {len} bytes is shorter than the {TAG_LEN}-byte tag")]
    TooShort {
        /// Length received.
        len: usize,
    },
    /// The tag did not verify under the read key at this counter.
    #[error("frame {counter} failed to decrypt")]
    Decrypt {
        /// The read counter the frame was tried at.
        counter: u32,
    },
}

/// One direction: a key and its counter. `None` once all 2^32 nonces are used.
#[derive(Clone)]
struct CipherState {
    aead: Aes256Gcm,
    next: Option<u32>,
}

impl CipherState {
    fn new(key: &[u8; 32], counter: u32) -> Self {
        Self {
            aead: Aes256Gcm::new(key.into()),
            next: Some(counter),
        }
    }

    /// Consumes the current counter and advances it; `checked_add` makes the
    /// last nonce (u32::MAX) usable and everything after it an error.
    fn take(&mut self, direction: Direction) -> Result<u32, TransportError> {
        let current = self
            .next
            .ok_or(TransportError::CounterExhausted { direction })?;
        self.next = current.checked_add(1);
        Ok(current)
    }
}

/// The transport cipher both peers hold after the handshake.
///
/// ```
/// use whatsapp_proto::noise::Transport;
/// let mut client = Transport::from_keys([1; 32], [2; 32]);
/// let mut server = Transport::from_keys([2; 32], [1; 32]);
/// let frame = client.encrypt(b"\x00node").unwrap();
/// assert_eq!(server.decrypt(&frame).unwrap(), b"\x00node");
/// ```
#[derive(Clone)]
pub struct Transport {
    write: CipherState,
    read: CipherState,
}

impl Transport {
    /// A transport from its two keys (counters at 0). The handshake builds
    /// one; this constructor exists for tests and for resuming state.
    pub fn from_keys(write_key: [u8; 32], read_key: [u8; 32]) -> Self {
        Self::with_counters(write_key, 0, read_key, 0)
    }

    /// Like [`Transport::from_keys`] with explicit next counters (tests reach
    /// the exhaustion limit with it).
    #[doc(hidden)]
    pub fn with_counters(write_key: [u8; 32], write: u32, read_key: [u8; 32], read: u32) -> Self {
        Self {
            write: CipherState::new(&write_key, write),
            read: CipherState::new(&read_key, read),
        }
    }

    /// Encrypts one frame payload (ciphertext followed by the 16-byte tag).
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, TransportError> {
        let counter = self.write.take(Direction::Write)?;
        // AES-GCM seal only fails above 64 GiB; frames are capped at 16 MiB.
        Ok(self
            .write
            .aead
            .encrypt(&nonce(counter).into(), plaintext)
            .unwrap_or_default())
    }

    /// Decrypts one received frame payload. On failure the read counter does
    /// not move.
    pub fn decrypt(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, TransportError> {
        if ciphertext.len() < TAG_LEN {
            return Err(TransportError::TooShort {
                len: ciphertext.len(),
            });
        }
        let counter = self.read.next.ok_or(TransportError::CounterExhausted {
            direction: Direction::Read,
        })?;
        let plaintext = self
            .read
            .aead
            .decrypt(&nonce(counter).into(), ciphertext)
            .map_err(|_| TransportError::Decrypt { counter })?;
        self.read.next = counter.checked_add(1);
        Ok(plaintext)
    }

    /// The counter the next sent frame will use (`None` once exhausted).
    pub fn write_counter(&self) -> Option<u32> {
        self.write.next
    }

    /// The counter the next received frame must use (`None` once exhausted).
    pub fn read_counter(&self) -> Option<u32> {
        self.read.next
    }
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("write_counter", &self.write.next)
            .field("read_counter", &self.read.next)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_nonce_usable_then_error_never_wrap() {
        let mut t = Transport::with_counters([3; 32], u32::MAX - 1, [3; 32], u32::MAX - 1);
        let a = t.encrypt(b"a").unwrap();
        let b = t.encrypt(b"b").unwrap();
        assert_eq!(
            t.encrypt(b"c"),
            Err(TransportError::CounterExhausted {
                direction: Direction::Write
            })
        );
        assert_eq!(t.decrypt(&a).unwrap(), b"a");
        assert_eq!(t.decrypt(&b).unwrap(), b"b");
        assert_eq!(
            t.decrypt(&b),
            Err(TransportError::CounterExhausted {
                direction: Direction::Read
            })
        );
    }

    #[test]
    fn failed_decrypt_keeps_counter() {
        let mut tx = Transport::from_keys([5; 32], [6; 32]);
        let mut rx = Transport::from_keys([6; 32], [5; 32]);
        let good = tx.encrypt(b"x").unwrap();
        let mut bad = good.clone();
        bad[0] ^= 1;
        assert_eq!(
            rx.decrypt(&bad),
            Err(TransportError::Decrypt { counter: 0 })
        );
        assert_eq!(
            rx.decrypt(&[0; 3]),
            Err(TransportError::TooShort { len: 3 })
        );
        assert_eq!(rx.decrypt(&good).unwrap(), b"x");
        assert_eq!(rx.read_counter(), Some(1));
    }
}
