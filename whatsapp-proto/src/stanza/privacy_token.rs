//! Privacy tokens (part 2 §4.7): the trusted-contact tokens users issue each other, which a
//! 1:1 message carries as `<tctoken>` so the server does not refuse it with error 463, the
//! `<cstoken>` derived from the account's NCT salt when no token is held, and the IQ that
//! issues our own token (whatsmeow `tctoken.go`, `cstoken.go`, `notification.go`).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::StanzaError;
use crate::binary::Node;
use crate::jid::{Jid, Server};

/// The length of a token bucket in seconds: 7 days (AB prop `tctoken_duration`, whatsmeow
/// `tctoken.go`).
pub const BUCKET_SECONDS: i64 = 604_800;
/// How many buckets a token stays valid (AB prop `tctoken_num_buckets`): about 28 days.
pub const BUCKETS: i64 = 4;

/// The oldest token timestamp still valid at `now`: the start of the bucket
/// `BUCKETS - 1` before the current one.
pub fn cutoff(now: i64) -> i64 {
    (now.div_euclid(BUCKET_SECONDS) - (BUCKETS - 1)) * BUCKET_SECONDS
}

/// Whether a token issued at `timestamp` is still valid at `now`.
///
/// ```
/// use whatsapp_proto::stanza::privacy_token::{token_valid, BUCKET_SECONDS};
/// let now = 1_700_000_000;
/// assert!(token_valid(now - 3 * BUCKET_SECONDS, now));
/// assert!(!token_valid(now - 4 * BUCKET_SECONDS, now));
/// ```
pub fn token_valid(timestamp: i64, now: i64) -> bool {
    timestamp > 0 && timestamp >= cutoff(now)
}

/// Whether our own token is to be issued again: never issued, or last issued in an earlier
/// bucket than `now`'s (whatsmeow `shouldSendNewTCToken`).
pub fn should_issue(last_issued: Option<i64>, now: i64) -> bool {
    last_issued
        .is_none_or(|t| t <= 0 || now.div_euclid(BUCKET_SECONDS) > t.div_euclid(BUCKET_SECONDS))
}

/// Whether messages to `jid` carry and cause privacy tokens: a person on the PN or LID server,
/// not the PSA account (`0`) nor a bot, judged on the device-less form (whatsmeow
/// `shouldSendTCTokenInChatAction`, `shouldSendCsToken`: `jid.ToNonAD()`, then `IsBot`).
///
/// ```
/// use whatsapp_proto::jid::Jid;
/// use whatsapp_proto::stanza::privacy_token::applies_to;
/// assert!(applies_to(&Jid::user("201001234567")));
/// assert!(!applies_to(&Jid::user("13135550002").with_device(3)));
/// assert!(applies_to(&Jid::user("131355500021")));
/// ```
pub fn applies_to(jid: &Jid) -> bool {
    let jid = jid.to_non_ad();
    matches!(jid.server, Server::User | Server::Lid) && jid.user != "0" && !jid.is_bot()
}

/// The `<cstoken>` for a recipient: HMAC-SHA256 keyed with the NCT salt over the recipient's
/// LID as text, `user@lid` (whatsmeow `cstoken.go generateCsToken`). `None` when
/// `recipient_lid` is not a LID.
pub fn cstoken(salt: &[u8], recipient_lid: &Jid) -> Option<Vec<u8>> {
    if recipient_lid.server != Server::Lid || salt.is_empty() {
        return None;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(salt).ok()?;
    mac.update(recipient_lid.to_non_ad().to_string().as_bytes());
    Some(mac.finalize().into_bytes().to_vec())
}

/// The IQ issuing our trusted-contact token to `jid` at `t` (whatsmeow `tctoken.go
/// issuePrivacyToken`); the caller adds the id.
pub fn issue_iq(jid: &Jid, t: i64) -> Node {
    Node::new("iq")
        .attr("xmlns", "privacy")
        .attr("type", "set")
        .attr("to", Jid::server_jid())
        .children([Node::new("tokens").children([Node::new("token")
            .attr("jid", jid.to_non_ad())
            .attr("t", t.to_string())
            .attr("type", "trusted_contact")])])
}

/// A `privacy_token` notification: who issued the tokens (`from`, and `sender_lid` when the
/// server names it) and each trusted-contact token with its timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedTokens {
    /// The issuer as the notification's `from` names it.
    pub from: Jid,
    /// The issuer's LID, when the notification carries `sender_lid`.
    pub sender_lid: Option<Jid>,
    /// `(token, timestamp)` of every `trusted_contact` token; others are skipped.
    pub tokens: Vec<(Vec<u8>, i64)>,
}

impl ReceivedTokens {
    /// Reads `<notification type="privacy_token" from [sender_lid]><tokens><token
    /// type="trusted_contact" t>bytes</token>…` (whatsmeow `handlePrivacyTokenNotification`).
    /// Tokens of another type, without content or without `t` are skipped.
    pub fn parse(node: &Node) -> Result<ReceivedTokens, StanzaError> {
        let attrs = node.attrs();
        let from = attrs
            .jid("from")
            .map_err(|_| StanzaError::Missing { part: "from" })?
            .to_non_ad();
        let sender_lid = attrs
            .optional_jid("sender_lid")
            .ok()
            .flatten()
            .map(|j| j.to_non_ad())
            .filter(Jid::is_lid);
        let tokens = super::required(node, "tokens", "tokens")?
            .children_by_tag("token")
            .filter(|t| t.attrs().optional_str("type") == Some("trusted_contact"))
            .filter_map(|t| {
                let time = t.attrs().optional_u64("t").ok().flatten()?;
                Some((t.content_bytes()?.to_vec(), i64::try_from(time).ok()?))
            })
            .collect();
        Ok(ReceivedTokens {
            from,
            sender_lid,
            tokens,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_decide_validity_and_reissue() {
        let now = 1_700_000_000;
        let bucket_start = now - now % BUCKET_SECONDS;
        assert!(token_valid(now, now));
        assert!(token_valid(bucket_start - 3 * BUCKET_SECONDS, now));
        assert!(!token_valid(bucket_start - 3 * BUCKET_SECONDS - 1, now));
        assert!(!token_valid(0, now));
        assert!(should_issue(None, now));
        assert!(!should_issue(Some(bucket_start), now));
        assert!(should_issue(Some(bucket_start - 1), now));
    }

    #[test]
    fn cstoken_is_an_hmac_of_the_lid() {
        let lid: Jid = "123456789012345@lid".parse().unwrap();
        let token = cstoken(b"salt", &lid).unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(b"salt").unwrap();
        mac.update(b"123456789012345@lid");
        assert_eq!(token, mac.finalize().into_bytes().to_vec());
        let device: Jid = "123456789012345:3@lid".parse().unwrap();
        assert_eq!(cstoken(b"salt", &device), Some(token));
        let pn: Jid = "201000000001@s.whatsapp.net".parse().unwrap();
        assert_eq!(cstoken(b"salt", &pn), None);
    }

    #[test]
    fn psa_and_bots_get_no_tokens() {
        for (jid, applies) in [
            ("201000000001@s.whatsapp.net", true),
            ("123456789012345@lid", true),
            ("0@s.whatsapp.net", false),
            ("13135550002@s.whatsapp.net", false),
            ("867051314767696@bot", false),
            ("1203630@g.us", false),
        ] {
            assert_eq!(applies_to(&jid.parse().unwrap()), applies, "{jid}");
        }
    }

    #[test]
    fn notification_tokens_are_read() {
        let node = Node::new("notification")
            .attr(
                "from",
                "201000000001@s.whatsapp.net".parse::<Jid>().unwrap(),
            )
            .attr("sender_lid", "123456789012345@lid".parse::<Jid>().unwrap())
            .attr("type", "privacy_token")
            .children([Node::new("tokens").children([
                Node::new("token")
                    .attr("type", "trusted_contact")
                    .attr("t", "1700000000")
                    .bytes(vec![1, 2]),
                Node::new("token")
                    .attr("type", "other")
                    .attr("t", "1700000000")
                    .bytes(vec![3]),
                Node::new("token")
                    .attr("type", "trusted_contact")
                    .bytes(vec![4]),
            ])]);
        let parsed = ReceivedTokens::parse(&node).unwrap();
        assert_eq!(parsed.sender_lid.unwrap().user, "123456789012345");
        assert_eq!(parsed.tokens, vec![(vec![1, 2], 1_700_000_000)]);
        let bare = Node::new("notification").attr("from", parsed.from.clone());
        assert!(ReceivedTokens::parse(&bare).is_err());
    }
}
