//! Poll votes: the encryption of a `PollUpdateMessage.vote` under the poll's message secret,
//! and the option hashes a vote carries.
//!
//! As whatsmeow `msgsecret.go` (`generateMsgSecretKey`, `DecryptPollVote`,
//! `EncryptPollVote`, `HashPollOptions`) does it:
//! - key = HKDF-SHA256(ikm = the poll's `messageContextInfo.messageSecret`, no salt,
//!   info = poll message id ‖ poll creator ‖ voter ‖ `"Poll Vote"`, 32 bytes), where both
//!   JIDs are written without agent and device (`ToNonAD().String()`);
//! - AES-256-GCM with the 12-byte `encIv`, additional data = poll message id ‖ `0x00` ‖ voter
//!   (again without device). The plaintext is a `PollVoteMessage` whose `selectedOptions`
//!   are SHA-256 digests of the chosen option names.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use hkdf::Hkdf;
use prost::Message as _;
use sha2::{Digest, Sha256};

use crate::jid::Jid;
use crate::pb::e2e::{PollEncValue, PollVoteMessage};

/// The use-case string of a poll vote (whatsmeow `EncSecretPollVote`).
pub const POLL_VOTE_USE_CASE: &str = "Poll Vote";

/// The length of a vote's GCM nonce (`encIv`).
pub const VOTE_IV_LEN: usize = 12;

/// Why a vote could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PollError {
    /// The vote has no `encPayload` or no `encIv`.
    #[error("vote without payload or iv")]
    Missing,
    /// The `encIv` is not 12 bytes.
    #[error("vote iv of {0} bytes, expected 12")]
    BadIv(usize),
    /// The GCM tag did not match: a wrong secret, poll, creator or voter.
    #[error("vote authentication failed")]
    Authentication,
    /// The decrypted bytes are not a `PollVoteMessage`.
    #[error("vote plaintext is not a PollVoteMessage")]
    Protobuf,
}

/// The poll a vote refers to and who votes: everything but the secret that the key and the
/// additional data are derived from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoteContext<'a> {
    /// The poll creation message's id.
    pub poll_id: &'a str,
    /// Who sent the poll.
    pub poll_creator: &'a Jid,
    /// Who votes.
    pub voter: &'a Jid,
}

impl VoteContext<'_> {
    /// The AES-256-GCM key and additional data (whatsmeow `generateMsgSecretKey`).
    fn key_and_aad(&self, secret: &[u8]) -> ([u8; 32], Vec<u8>) {
        let creator = self.poll_creator.to_non_ad().to_string();
        let voter = self.voter.to_non_ad().to_string();
        let mut info = Vec::with_capacity(
            self.poll_id.len() + creator.len() + voter.len() + POLL_VOTE_USE_CASE.len(),
        );
        info.extend_from_slice(self.poll_id.as_bytes());
        info.extend_from_slice(creator.as_bytes());
        info.extend_from_slice(voter.as_bytes());
        info.extend_from_slice(POLL_VOTE_USE_CASE.as_bytes());
        let mut key = [0u8; 32];
        Hkdf::<Sha256>::new(None, secret)
            .expand(&info, &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 length");
        let mut aad = Vec::with_capacity(self.poll_id.len() + 1 + voter.len());
        aad.extend_from_slice(self.poll_id.as_bytes());
        aad.push(0);
        aad.extend_from_slice(voter.as_bytes());
        (key, aad)
    }
}

/// SHA-256 of an option's name: what a vote selects (whatsmeow `HashPollOptions`).
pub fn option_hash(name: &str) -> [u8; 32] {
    Sha256::digest(name.as_bytes()).into()
}

/// Seals `vote` for the poll of `context` under the poll's message `secret`; `iv` is fresh
/// randomness from the caller (this crate reads no entropy).
pub fn encrypt_vote(
    secret: &[u8],
    context: &VoteContext<'_>,
    vote: &PollVoteMessage,
    iv: [u8; VOTE_IV_LEN],
) -> PollEncValue {
    let (key, aad) = context.key_and_aad(secret);
    let cipher = Aes256Gcm::new(&key.into());
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&iv),
            Payload {
                msg: &vote.encode_to_vec(),
                aad: &aad,
            },
        )
        .expect("AES-GCM sealing of a small message cannot fail");
    PollEncValue {
        enc_payload: Some(sealed),
        enc_iv: Some(iv.to_vec()),
    }
}

/// Opens a vote of the poll of `context` with the poll's message `secret`.
pub fn decrypt_vote(
    secret: &[u8],
    context: &VoteContext<'_>,
    value: &PollEncValue,
) -> Result<PollVoteMessage, PollError> {
    let (Some(payload), Some(iv)) = (&value.enc_payload, &value.enc_iv) else {
        return Err(PollError::Missing);
    };
    if iv.len() != VOTE_IV_LEN {
        return Err(PollError::BadIv(iv.len()));
    }
    let (key, aad) = context.key_and_aad(secret);
    let plaintext = Aes256Gcm::new(&key.into())
        .decrypt(
            Nonce::from_slice(iv),
            Payload {
                msg: payload,
                aad: &aad,
            },
        )
        .map_err(|_| PollError::Authentication)?;
    PollVoteMessage::decode(plaintext.as_slice()).map_err(|_| PollError::Protobuf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jid(s: &str) -> Jid {
        s.parse().unwrap()
    }

    fn vote(names: &[&str]) -> PollVoteMessage {
        PollVoteMessage {
            selected_options: names.iter().map(|n| option_hash(n).to_vec()).collect(),
        }
    }

    #[test]
    fn option_hash_is_sha256_of_the_name() {
        assert_eq!(
            hex::encode(option_hash("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn round_trip_and_device_suffixes_do_not_matter() {
        let creator = jid("201000000001@s.whatsapp.net");
        let voter = jid("201000000002:3@s.whatsapp.net");
        let secret = [9u8; 32];
        let context = VoteContext {
            poll_id: "3EB0POLL",
            poll_creator: &creator,
            voter: &voter,
        };
        let sealed = encrypt_vote(&secret, &context, &vote(&["Yes"]), [1; 12]);
        assert_eq!(decrypt_vote(&secret, &context, &sealed), Ok(vote(&["Yes"])));
        let voter_phone = jid("201000000002@s.whatsapp.net");
        let same_user = VoteContext {
            voter: &voter_phone,
            ..context.clone()
        };
        assert_eq!(
            decrypt_vote(&secret, &same_user, &sealed),
            Ok(vote(&["Yes"]))
        );
    }

    #[test]
    fn wrong_secret_poll_or_voter_fails() {
        let creator = jid("201000000001@s.whatsapp.net");
        let voter = jid("201000000002@s.whatsapp.net");
        let other = jid("201000000003@s.whatsapp.net");
        let context = VoteContext {
            poll_id: "P1",
            poll_creator: &creator,
            voter: &voter,
        };
        let sealed = encrypt_vote(&[1; 32], &context, &vote(&["a", "b"]), [2; 12]);
        assert_eq!(
            decrypt_vote(&[2; 32], &context, &sealed),
            Err(PollError::Authentication)
        );
        let other_poll = VoteContext {
            poll_id: "P2",
            ..context.clone()
        };
        assert_eq!(
            decrypt_vote(&[1; 32], &other_poll, &sealed),
            Err(PollError::Authentication)
        );
        let other_voter = VoteContext {
            voter: &other,
            ..context.clone()
        };
        assert_eq!(
            decrypt_vote(&[1; 32], &other_voter, &sealed),
            Err(PollError::Authentication)
        );
        let short_iv = PollEncValue {
            enc_iv: Some(vec![0; 8]),
            ..sealed
        };
        assert_eq!(
            decrypt_vote(&[1; 32], &context, &short_iv),
            Err(PollError::BadIv(8))
        );
        assert_eq!(
            decrypt_vote(&[1; 32], &context, &PollEncValue::default()),
            Err(PollError::Missing)
        );
    }

    /// Computed independently with Python's `cryptography` (HKDF-SHA256 over the secret with
    /// info `id‖creator‖voter‖"Poll Vote"`, then AES-256-GCM with AAD `id‖0x00‖voter`) from
    /// msgsecret.go's description, not with this module.
    #[test]
    fn known_answer() {
        let creator = jid("15550001111@s.whatsapp.net");
        let voter = jid("15550002222@s.whatsapp.net");
        let secret: Vec<u8> = (0u8..32).collect();
        let context = VoteContext {
            poll_id: "3EB0A1B2C3D4",
            poll_creator: &creator,
            voter: &voter,
        };
        let iv: [u8; 12] = core::array::from_fn(|i| 0xa0 + i as u8);
        let sealed = encrypt_vote(&secret, &context, &vote(&["Yes"]), iv);
        assert_eq!(
            hex::encode(sealed.enc_payload.as_ref().unwrap()),
            KNOWN_CIPHERTEXT
        );
        assert_eq!(decrypt_vote(&secret, &context, &sealed), Ok(vote(&["Yes"])));
    }

    const KNOWN_CIPHERTEXT: &str = "b743cc033b253f59e02f28da272cba902bb3c70a4fc5b1c29135366ce611c77be7b987e8bf2cae3b57236cc6a32dc85ad5a5";
}
