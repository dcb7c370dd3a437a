//! Message ids: the ones this client makes and the check of the ones a caller brings.

use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::ClientError;

/// A message id in whatsmeow's current format: `3EB0` + upper-case hex of the first 9 bytes of
/// SHA-256(unix seconds BE ‖ own user ‖ "@c.us" ‖ 16 random bytes) (part 2 §4.1).
pub fn generate_message_id(own_user: &str, unix_seconds: u64) -> String {
    let mut random = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut random);
    let mut h = Sha256::new();
    h.update(unix_seconds.to_be_bytes());
    h.update(own_user.as_bytes());
    h.update(b"@c.us");
    h.update(random);
    let digest = h.finalize();
    format!("3EB0{}", hex::encode_upper(&digest[..9]))
}

/// Checks a caller-chosen message id (for [`crate::Client::send_message_with_id`]).
///
/// The official clients' ids are 16 to 64 upper-case letters and digits: WhatsApp Web's
/// `3EB0` + 18 (or, older, 16) hex digits, iOS's `3A` + hex, Android's 32 hex digits (part 2
/// §4.1). Anything else (empty, lower case, punctuation, overly long) is refused before it
/// reaches the server.
///
/// ```
/// use whatsapp_client::{generate_message_id, validate_message_id};
/// assert!(validate_message_id(&generate_message_id("15551234567", 1_700_000_000)).is_ok());
/// assert!(validate_message_id("3EB0C0FFEE00112233").is_ok());
/// assert!(validate_message_id("3eb0-not-an-id").is_err());
/// ```
pub fn validate_message_id(id: &str) -> Result<(), ClientError> {
    let refuse = |reason: &'static str| {
        Err(ClientError::InvalidMessageId {
            id: id.chars().take(80).collect(),
            reason,
        })
    };
    if !(16..=64).contains(&id.len()) {
        return refuse("length must be 16 to 64 characters");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    {
        return refuse("only upper-case letters and digits");
    }
    Ok(())
}

/// A message id, checked as [`validate_message_id`] checks a caller's: what the sending
/// methods return, and what the ones that name a message take.
///
/// ```
/// use whatsapp_client::MessageId;
/// let id: MessageId = "3EB0C0FFEE00112233".parse().unwrap();
/// assert_eq!(id.as_str(), "3EB0C0FFEE00112233");
/// assert!("not an id".parse::<MessageId>().is_err());
/// assert!(MessageId::try_from(String::from("3eb0c0ffee00112233")).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(String);

impl MessageId {
    /// A fresh id in WhatsApp Web's format for the account `own_user` (see
    /// [`generate_message_id`]).
    pub fn generate(own_user: &str, unix_seconds: u64) -> MessageId {
        MessageId(generate_message_id(own_user, unix_seconds))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }

    /// An id this crate made or already checked.
    pub(crate) fn checked(id: String) -> MessageId {
        debug_assert!(validate_message_id(&id).is_ok(), "{id}");
        MessageId(id)
    }
}

impl std::fmt::Display for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for MessageId {
    type Err = ClientError;

    fn from_str(s: &str) -> Result<MessageId, ClientError> {
        validate_message_id(s)?;
        Ok(MessageId(s.to_owned()))
    }
}

impl TryFrom<String> for MessageId {
    type Error = ClientError;

    fn try_from(s: String) -> Result<MessageId, ClientError> {
        validate_message_id(&s)?;
        Ok(MessageId(s))
    }
}

impl AsRef<str> for MessageId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for MessageId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for MessageId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl From<MessageId> for String {
    fn from(id: MessageId) -> String {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_id_format() {
        let id = generate_message_id("15551234567", 1_700_000_000);
        assert_eq!(id.len(), 22);
        assert!(id.starts_with("3EB0"));
        assert!(
            id[4..]
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
        );
        assert_ne!(id, generate_message_id("15551234567", 1_700_000_000));
    }

    #[test]
    fn caller_ids_are_checked() {
        for good in [
            generate_message_id("15551234567", 1),
            "3EB0A1B2C3D4E5F60718".to_owned(),
            "3A1F2E3D4C5B6A798877".to_owned(),
            "A1B2C3D4E5F60718293A4B5C6D7E8F90".to_owned(),
        ] {
            assert!(validate_message_id(&good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "3EB0",
            "3eb0a1b2c3d4e5f60718",
            "3EB0 A1B2C3D4E5F60718",
            "3EB0-A1B2C3D4E5F60718",
            "3EB0A1B2C3D4E5F60718\n",
            "3EB0A1B2C3D4E5F60718É",
        ] {
            assert!(
                matches!(
                    validate_message_id(bad),
                    Err(ClientError::InvalidMessageId { .. })
                ),
                "{bad:?}"
            );
        }
        assert!(validate_message_id(&"A".repeat(65)).is_err());
        assert!(validate_message_id(&"A".repeat(64)).is_ok());
    }
}
