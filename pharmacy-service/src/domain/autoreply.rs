//! Keyword triggers for automatic replies, matched on normalised text.

use super::ids::{BranchId, TriggerId};
use super::search::normalize;
use serde::{Deserialize, Serialize};

/// How a trigger's keyword must appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchKind {
    /// Anywhere, as whole words.
    Contains,
    /// The whole message.
    Exact,
    /// At the start.
    StartsWith,
}

impl MatchKind {
    /// The database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchKind::Contains => "contains",
            MatchKind::Exact => "exact",
            MatchKind::StartsWith => "starts_with",
        }
    }

    /// Parses the database spelling.
    pub fn parse(s: &str) -> Option<MatchKind> {
        match s {
            "contains" => Some(MatchKind::Contains),
            "exact" => Some(MatchKind::Exact),
            "starts_with" => Some(MatchKind::StartsWith),
            _ => None,
        }
    }
}

/// An auto-reply rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trigger {
    /// Its id.
    pub id: TriggerId,
    /// The keyword or phrase.
    pub keyword: String,
    /// How it must match.
    pub match_kind: MatchKind,
    /// The reply (a template).
    pub body: String,
    /// Only for tickets of this branch, if set.
    pub branch: Option<BranchId>,
}

fn words(s: &str) -> Vec<String> {
    normalize(s)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The first trigger that matches `text` for a ticket of `branch`.
pub fn match_trigger<'a>(
    text: &str,
    branch: Option<BranchId>,
    triggers: &'a [Trigger],
) -> Option<&'a Trigger> {
    let msg = words(text);
    triggers.iter().find(|t| {
        if t.branch.is_some() && t.branch != branch {
            return false;
        }
        let kw = words(&t.keyword);
        if kw.is_empty() {
            return false;
        }
        match t.match_kind {
            MatchKind::Exact => msg == kw,
            MatchKind::StartsWith => msg.starts_with(&kw),
            MatchKind::Contains => msg.windows(kw.len()).any(|w| w == kw.as_slice()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: i64, kw: &str, k: MatchKind, branch: Option<i64>) -> Trigger {
        Trigger {
            id: TriggerId(id),
            keyword: kw.into(),
            match_kind: k,
            body: String::new(),
            branch: branch.map(BranchId),
        }
    }

    #[test]
    fn triggers() {
        let ts = vec![
            t(1, "مواعيد العمل", MatchKind::Contains, None),
            t(2, "hi", MatchKind::Exact, None),
            t(3, "delivery", MatchKind::StartsWith, Some(2)),
            t(4, "توصيل", MatchKind::Contains, None),
        ];
        let cases = [
            ("ما هي مَواعيد العمل؟", Some(1), None),
            ("Hi", Some(2), None),
            ("hi there", None, None),
            ("delivery please", Some(3), Some(2)),
            ("delivery please", None, Some(1)),
            ("هل يوجد توصيل للمنزل", Some(4), None),
            ("this", None, None),
            ("", None, None),
        ];
        for (text, want, branch) in cases {
            let got = match_trigger(text, branch.map(BranchId), &ts).map(|t| t.id.0);
            assert_eq!(got, want, "{text}");
        }
    }
}
