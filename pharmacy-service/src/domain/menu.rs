//! The welcome menu: a numbered list of branches, and reading the customer's choice.

use super::csat::is_invisible_mark;
use super::ids::BranchId;

fn digit(c: char) -> Option<u32> {
    match c {
        '0'..='9' => Some(c as u32 - '0' as u32),
        '\u{0660}'..='\u{0669}' => Some(c as u32 - 0x0660),
        '\u{06F0}'..='\u{06F9}' => Some(c as u32 - 0x06F0),
        _ => None,
    }
}

/// A reply that is only a number from 1 to `max` (Latin or Arabic-Indic digits, at most
/// three), ignoring whitespace and direction marks.
pub fn parse_choice(text: &str, max: u32) -> Option<u32> {
    let chars: Vec<char> = text
        .chars()
        .filter(|c| !c.is_whitespace() && !is_invisible_mark(*c))
        .collect();
    if chars.is_empty() || chars.len() > 3 {
        return None;
    }
    let n = chars
        .iter()
        .try_fold(0u32, |acc, c| Some(acc * 10 + digit(*c)?))?;
    (1..=max).contains(&n).then_some(n)
}

/// The menu text: one line per branch, `N. Arabic name / English name`.
pub fn render_menu(branches: &[(BranchId, String, String)]) -> String {
    branches
        .iter()
        .enumerate()
        .map(|(i, (_, name_ar, name))| format!("{}. {name_ar} / {name}", i + 1))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices() {
        let cases = [
            ("3", 15, Some(3)),
            ("١٢", 15, Some(12)),
            (" 15 ", 15, Some(15)),
            ("16", 15, None),
            ("0", 15, None),
            ("1a", 15, None),
            ("", 15, None),
            ("٣", 2, None),
            ("۲", 2, Some(2)),
        ];
        for (t, max, want) in cases {
            assert_eq!(parse_choice(t, max), want, "{t}");
        }
        let m = render_menu(&[
            (BranchId(1), "توريل".into(), "Toriel".into()),
            (BranchId(2), "طلخا".into(), "Talkha".into()),
        ]);
        assert_eq!(m, "1. توريل / Toriel\n2. طلخا / Talkha");
    }
}
