//! The participant hash (`phash`): which devices a message was fanned out to, so the server
//! can tell a sender its device lists are stale (part 2 §4.6).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use sha2::{Digest, Sha256};

use crate::jid::Jid;

/// whatsmeow `send.go` `participantListHashV2`: `"2:"` + base64 (standard, unpadded) of the
/// first 6 bytes of SHA-256 over the byte-wise sorted `user.agent:device@server` strings.
/// The order of `devices` does not matter.
///
/// ```
/// use whatsapp_proto::jid::Jid;
/// use whatsapp_proto::stanza::phash::participant_hash;
/// let a: Jid = "15551234567:2@s.whatsapp.net".parse().unwrap();
/// let b: Jid = "15551234567:12@s.whatsapp.net".parse().unwrap();
/// let hash = participant_hash(&[a.clone(), b.clone()]);
/// assert!(hash.starts_with("2:") && hash.len() == 10);
/// assert_eq!(participant_hash(&[b, a]), hash);
/// ```
pub fn participant_hash(devices: &[Jid]) -> String {
    let mut names: Vec<String> = devices
        .iter()
        .map(|d| format!("{}.{}:{}@{}", d.user, d.agent, d.device, d.server.as_str()))
        .collect();
    names.sort();
    let digest = Sha256::digest(names.concat().as_bytes());
    format!("2:{}", STANDARD_NO_PAD.encode(&digest[..6]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_form() {
        // Byte-wise order puts ":12@" before ":2@".
        let devices: Vec<Jid> = [
            "15551234567:2@s.whatsapp.net",
            "15551234567:12@s.whatsapp.net",
        ]
        .iter()
        .map(|j| j.parse().unwrap())
        .collect();
        let digest =
            Sha256::digest(b"15551234567.0:12@s.whatsapp.net15551234567.0:2@s.whatsapp.net");
        // The first 6 bytes encode to 8 characters without padding.
        let expected = format!("2:{}", STANDARD_NO_PAD.encode(&digest[..6]));
        assert_eq!(participant_hash(&devices), expected);
        assert_eq!(expected.len(), 10);
    }

    #[test]
    fn the_server_and_agent_change_the_hash() {
        let pn: Jid = "15551234567:2@s.whatsapp.net".parse().unwrap();
        let lid: Jid = "15551234567:2@lid".parse().unwrap();
        assert_ne!(
            participant_hash(std::slice::from_ref(&pn)),
            participant_hash(&[lid])
        );
        let mut hosted = pn.clone();
        hosted.agent = 1;
        assert_ne!(participant_hash(&[pn]), participant_hash(&[hosted]));
    }
}
