//! The contacts we issued our privacy token to in the current 7-day bucket, kept in memory
//! so that a send does not ask the store each time (whatsmeow `client.go` keeps the same in
//! `tcTokenSenderTS`; `tctoken.go` reads it in `getTCTokenSenderTS`).

use std::collections::HashSet;

use whatsapp_proto::stanza::privacy_token::BUCKET_SECONDS;

/// Storage JIDs (see `privacy_token::storage_jid`) issued to, or being issued to, in
/// `bucket`. Only the current bucket counts (an earlier issue is due again), so a new bucket
/// starts empty: the set holds at most the contacts written to in one week.
#[derive(Debug, Default)]
pub(crate) struct TokensIssued {
    bucket: i64,
    issued: HashSet<String>,
}

impl TokensIssued {
    /// Claims the issue of our token to `key` at `now` (unix seconds): false when it was
    /// issued, or is being issued, in `now`'s bucket already.
    pub(crate) fn claim(&mut self, key: &str, now: i64) -> bool {
        let bucket = now.div_euclid(BUCKET_SECONDS);
        if bucket != self.bucket {
            self.bucket = bucket;
            self.issued.clear();
        }
        self.issued.insert(key.to_owned())
    }

    /// Gives up a claim (the issue failed): the next send tries again.
    pub(crate) fn release(&mut self, key: &str) {
        self.issued.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_claim_per_contact_and_bucket() {
        let mut issued = TokensIssued::default();
        let now = 100 * BUCKET_SECONDS + 5;
        assert!(issued.claim("1@lid", now));
        assert!(!issued.claim("1@lid", now + 60));
        assert!(issued.claim("2@lid", now));
        issued.release("2@lid");
        assert!(issued.claim("2@lid", now));
        // The next bucket: due again.
        assert!(issued.claim("1@lid", now + BUCKET_SECONDS));
        assert!(!issued.claim("1@lid", now + BUCKET_SECONDS));
    }
}
