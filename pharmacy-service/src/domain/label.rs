//! Conversation labels: the reason a customer wrote (prescription, delivery, price question,
//! complaint, stock request, ...). Admins define them; agents set them on the tickets they work.
//! Here: what makes a valid name and the colours a label may have.

use serde::{Deserialize, Serialize};

/// The longest label name, in characters (a chip in the inbox row must stay one short line).
pub const MAX_NAME_CHARS: usize = 40;

/// How many labels one ticket may carry (a ticket with more says nothing any more).
pub const MAX_PER_TICKET: usize = 8;

/// A label's colour: a fixed palette the UI draws with enough contrast in both themes, so
/// no colour value from a request reaches a style attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LabelColor {
    /// Grey.
    Gray,
    /// Red.
    Red,
    /// Orange.
    Orange,
    /// Yellow.
    Yellow,
    /// Green.
    Green,
    /// Teal.
    Teal,
    /// Blue.
    Blue,
    /// Purple.
    Purple,
    /// Pink.
    Pink,
}

impl LabelColor {
    /// Every colour, in the order the UI offers them.
    pub const ALL: [LabelColor; 9] = [
        LabelColor::Gray,
        LabelColor::Red,
        LabelColor::Orange,
        LabelColor::Yellow,
        LabelColor::Green,
        LabelColor::Teal,
        LabelColor::Blue,
        LabelColor::Purple,
        LabelColor::Pink,
    ];

    /// The database (and JSON) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LabelColor::Gray => "gray",
            LabelColor::Red => "red",
            LabelColor::Orange => "orange",
            LabelColor::Yellow => "yellow",
            LabelColor::Green => "green",
            LabelColor::Teal => "teal",
            LabelColor::Blue => "blue",
            LabelColor::Purple => "purple",
            LabelColor::Pink => "pink",
        }
    }

    /// Parses the database spelling.
    pub fn parse(s: &str) -> Option<LabelColor> {
        LabelColor::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// Why a label name is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LabelNameError {
    /// Nothing but spaces.
    #[error("required")]
    Empty,
    /// Longer than [`MAX_NAME_CHARS`].
    #[error("at most 40 characters")]
    TooLong,
    /// A control or formatting character (a line break, a direction override) that would
    /// break the one-line chip or reorder the text around it.
    #[error("no line breaks or control characters")]
    Control,
}

/// The name as stored: trimmed, inner runs of spaces made one, checked.
///
/// ```
/// use pharmacy_service::domain::label::{normalize_name, LabelNameError};
/// assert_eq!(normalize_name("  توصيل   للمنزل ").unwrap(), "توصيل للمنزل");
/// assert_eq!(normalize_name("   "), Err(LabelNameError::Empty));
/// ```
pub fn normalize_name(raw: &str) -> Result<String, LabelNameError> {
    // Bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069) are format
    // characters, not controls, but they reorder what follows in the inbox row.
    let bidi = |c: char| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    if raw.chars().any(|c| (c.is_control() && c != ' ') || bidi(c)) {
        return Err(LabelNameError::Control);
    }
    let name = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.is_empty() {
        return Err(LabelNameError::Empty);
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(LabelNameError::TooLong);
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_spaces_collapsed() {
        assert_eq!(
            normalize_name(" Price  question ").unwrap(),
            "Price question"
        );
        assert_eq!(normalize_name("شكوى").unwrap(), "شكوى");
    }

    #[test]
    fn empty_long_and_control_names_are_refused() {
        assert_eq!(normalize_name(""), Err(LabelNameError::Empty));
        assert_eq!(normalize_name(" \u{3000} "), Err(LabelNameError::Empty));
        assert_eq!(normalize_name("a\nb"), Err(LabelNameError::Control));
        assert_eq!(normalize_name("a\tb"), Err(LabelNameError::Control));
        assert_eq!(normalize_name("a\u{202E}b"), Err(LabelNameError::Control));
        assert_eq!(normalize_name("a\u{2067}b"), Err(LabelNameError::Control));
        // Counted in characters, not bytes: 40 Arabic letters fit.
        assert!(normalize_name(&"ش".repeat(MAX_NAME_CHARS)).is_ok());
        assert_eq!(
            normalize_name(&"ش".repeat(MAX_NAME_CHARS + 1)),
            Err(LabelNameError::TooLong)
        );
    }

    #[test]
    fn every_colour_round_trips() {
        for c in LabelColor::ALL {
            assert_eq!(LabelColor::parse(c.as_str()), Some(c));
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
        assert_eq!(LabelColor::parse("#ff0000"), None);
    }
}
