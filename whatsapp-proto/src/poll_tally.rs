//! Counting a poll's decrypted votes. A vote carries the voter's whole selection (an empty
//! one withdraws it), so only each voter's last vote counts: the one with the latest
//! `senderTimestampMs`, and of two with the same time the one added later.

use std::collections::HashMap;

use crate::jid::Jid;
use crate::poll::option_hash;

/// One option's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionTally {
    /// The option's name.
    pub name: String,
    /// Who selects it now (without device), in the order their counted votes were added.
    pub voters: Vec<Jid>,
}

impl OptionTally {
    /// How many voters select it.
    pub fn count(&self) -> usize {
        self.voters.len()
    }
}

/// The votes on one poll, last vote per voter.
///
/// ```
/// use whatsapp_proto::jid::Jid;
/// use whatsapp_proto::poll::option_hash;
/// use whatsapp_proto::poll_tally::PollTally;
/// let mut tally = PollTally::new(["9:00", "17:00"]);
/// let mona = Jid::user("201112223334");
/// tally.add(&mona, 1_000, &[option_hash("9:00").to_vec()]);
/// tally.add(&mona, 2_000, &[option_hash("17:00").to_vec()]); // she changed her mind
/// let result = tally.result();
/// assert_eq!((result[0].count(), result[1].count()), (0, 1));
/// ```
#[derive(Debug, Clone, Default)]
pub struct PollTally {
    options: Vec<(String, [u8; 32])>,
    votes: HashMap<Jid, Vote>,
    added: u64,
}

/// A voter's counted vote.
#[derive(Debug, Clone)]
struct Vote {
    /// `senderTimestampMs`.
    at: i64,
    /// When it was added, among all.
    order: u64,
    /// The indexes of the options selected.
    picked: Vec<usize>,
}

impl PollTally {
    /// A tally of the poll with these options (its creation message's, in order).
    pub fn new<S: Into<String>>(options: impl IntoIterator<Item = S>) -> PollTally {
        PollTally {
            options: options
                .into_iter()
                .map(Into::into)
                .map(|name: String| {
                    let hash = option_hash(&name);
                    (name, hash)
                })
                .collect(),
            ..PollTally::default()
        }
    }

    /// Adds a decrypted vote: `voter` (any device; counted without it; give each voter in
    /// one form, phone number or LID, as a chat may name a voter either way), its
    /// `senderTimestampMs` and the SHA-256 of each option it selects. Hashes of no option
    /// of this poll are ignored. Returns whether the vote now counts (false when the voter
    /// has a later one).
    pub fn add(&mut self, voter: &Jid, sender_timestamp_ms: i64, selected: &[Vec<u8>]) -> bool {
        let voter = voter.to_non_ad();
        if let Some(vote) = self.votes.get(&voter)
            && vote.at > sender_timestamp_ms
        {
            return false;
        }
        let mut picked: Vec<usize> = self
            .options
            .iter()
            .enumerate()
            .filter(|(_, (_, hash))| selected.iter().any(|s| s[..] == hash[..]))
            .map(|(i, _)| i)
            .collect();
        picked.dedup();
        self.added += 1;
        let vote = Vote {
            at: sender_timestamp_ms,
            order: self.added,
            picked,
        };
        self.votes.insert(voter, vote);
        true
    }

    /// How many voters have a counted, non-empty selection.
    pub fn voters(&self) -> usize {
        self.votes.values().filter(|v| !v.picked.is_empty()).count()
    }

    /// Each option with who selects it, in the poll's order.
    pub fn result(&self) -> Vec<OptionTally> {
        let mut votes: Vec<(&Jid, &Vote)> = self.votes.iter().collect();
        votes.sort_by_key(|(_, v)| v.order);
        self.options
            .iter()
            .enumerate()
            .map(|(i, (name, _))| OptionTally {
                name: name.clone(),
                voters: votes
                    .iter()
                    .filter(|(_, v)| v.picked.contains(&i))
                    .map(|(voter, _)| (*voter).clone())
                    .collect(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(name: &str) -> Vec<u8> {
        option_hash(name).to_vec()
    }

    #[test]
    fn last_vote_per_voter_wins_and_devices_are_one_voter() {
        let mut tally = PollTally::new(["a", "b", "c"]);
        let mona = Jid::user("2011");
        let ali = Jid::user("2012");
        assert!(tally.add(&mona.clone().with_device(3), 10, &[h("a"), h("b")]));
        assert!(tally.add(&ali, 10, &[h("b")]));
        // A late-arriving older vote does not undo the newer one.
        assert!(tally.add(&mona, 30, &[h("c")]));
        assert!(!tally.add(&mona.clone().with_device(1), 20, &[h("a")]));
        let counts: Vec<usize> = tally.result().iter().map(OptionTally::count).collect();
        assert_eq!(counts, [0, 1, 1]);
        assert_eq!(tally.result()[2].voters, std::slice::from_ref(&mona));
        // Withdrawn, and an unknown hash counts for nothing.
        tally.add(&ali, 40, &[]);
        tally.add(&mona, 40, &[h("zzz")]);
        assert_eq!(tally.voters(), 0);
        assert!(tally.result().iter().all(|o| o.count() == 0));
    }
}
