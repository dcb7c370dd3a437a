//! Faults a test injects into the sim.

use serde::{Deserialize, Serialize};

/// Fault injection (`POST /control/fault`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Close every connection without a word.
    DropConnections,
    /// `<stream:error code=…/>` to every logged-in connection, then close.
    StreamError {
        /// The code, e.g. 503 or 515.
        code: u16,
    },
    /// Delay every outgoing stanza by `ms` for `duration_ms`.
    Delay {
        /// Per-stanza delay.
        ms: u64,
        /// How long the fault lasts.
        duration_ms: u64,
    },
    /// The next `count` messages get `<ack error=code>` (e.g. 463, 479).
    Nack {
        /// The error code.
        code: u16,
        /// How many messages.
        count: u32,
    },
    /// The next `count` messages simulated customers send reach companions with a corrupted
    /// ciphertext (a flipped MAC bit), so the companion must recover through a retry receipt.
    CorruptNext {
        /// How many messages.
        count: u32,
    },
    /// Every media blob stored so far is gone (as expired media is): downloads answer 404 and
    /// clients recover through a media-retry receipt to the sender's phone.
    ExpireMedia,
    /// The next `count` media downloads stop after `after_bytes` bytes of the blob and the
    /// connection drops (a flaky network): clients resume with a `Range` request.
    CutMediaDownloads {
        /// How many downloads.
        count: u32,
        /// Bytes sent before the cut.
        after_bytes: u64,
    },
    /// The account's phone revokes a companion (its key index leaves `validIndexes` of the
    /// signed key-index list) while the server still lists the device: an honest client must
    /// not encrypt to it (part 2 §3.3).
    StaleCompanion {
        /// The account's phone number.
        phone: String,
        /// The companion's device number (not 0).
        device: u16,
    },
    /// The account's key-index lists carry a signature that does not verify (a flipped bit).
    BadKeyIndexSignature {
        /// The account's phone number.
        phone: String,
    },
    /// The account's key-index lists leave out `account_signature_key`, as the real server
    /// does for a contact's list (the client is to check it with the primary's identity it
    /// holds, or take it as it is; whatsapp-rust `wacore/src/adv.rs`).
    KeyIndexListWithoutAccountKey {
        /// The account's phone number.
        phone: String,
    },
    /// One of the account's devices is listed `is_hosted` (a business device hosted by
    /// Meta): it gets 1:1 messages at its `hosted` address and none of the group fan-out.
    HostedDevice {
        /// The account's phone number.
        phone: String,
        /// The device number (not 0).
        device: u16,
    },
    /// The next app-state patch served carries a wrong patch MAC (a flipped bit).
    BadPatchMac,
    /// The next app-state patch served carries a snapshot MAC over a wrong LTHash (with a patch
    /// MAC consistent with it), as if the client had missed a mutation.
    BadPatchLthash,
    /// Logins of non-customer accounts fail with `<failure reason="402" code expire>` until expiry;
    /// connected ones are dropped.
    TempBan {
        /// TempBanReason code (101..106).
        code: u16,
        /// Seconds.
        expire_s: u64,
    },
}
