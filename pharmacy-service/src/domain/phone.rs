//! Egyptian phone-number normalisation to WhatsApp's international digits (`20` + national
//! number without its trunk `0`), accepting spaces, dashes, `+`, `00`, and Arabic-Indic digits.

use serde::{Deserialize, Serialize};
use std::fmt;

/// International digits without `+`, e.g. `201001234567`: the user part of a WhatsApp PN JID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Phone(String);

impl Phone {
    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.0)
    }
}

/// Why a number was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// Characters other than digits and separators.
    #[error("unexpected character {0:?} in phone number")]
    BadCharacter(char),
    /// Not a plausible number.
    #[error("not a valid phone number: {0}")]
    Invalid(String),
}

/// Normalises an Egyptian (or already international) phone number.
///
/// - `01001234567`, `+20 100 123 4567`, `0020-100-123-4567`, `٠١٠٠١٢٣٤٥٦٧`, `1001234567` ->
///   `201001234567` (mobile: 10, 11, 12 or 15 then 8 digits).
/// - `050 2234567` (Mansoura landline) -> `20502234567`.
/// - `+966 5x...` (another country, written internationally) is kept as its digits.
pub fn normalize_phone(input: &str) -> Result<Phone, PhoneError> {
    let mut digits = String::new();
    let mut plus = false;
    for c in input.chars() {
        match c {
            '0'..='9' => digits.push(c),
            '\u{0660}'..='\u{0669}' => digits.push(char::from(b'0' + (c as u32 - 0x0660) as u8)),
            '\u{06F0}'..='\u{06F9}' => digits.push(char::from(b'0' + (c as u32 - 0x06F0) as u8)),
            '+' if digits.is_empty() && !plus => plus = true,
            ' ' | '-' | '(' | ')' | '.' | '/' | '\u{00A0}' => {}
            c if crate::domain::csat::is_invisible_mark(c) => {}
            c => return Err(PhoneError::BadCharacter(c)),
        }
    }
    let international = if plus {
        Some(digits.as_str())
    } else {
        digits.strip_prefix("00")
    };
    let candidate = match international {
        Some(rest) if rest.starts_with("20") => rest.to_owned(),
        Some(rest) => {
            return if (8..=15).contains(&rest.len()) && !rest.starts_with('0') {
                Ok(Phone(rest.to_owned()))
            } else {
                Err(PhoneError::Invalid(input.to_owned()))
            };
        }
        None if digits.starts_with('0') => format!("20{}", &digits[1..]),
        None if digits.starts_with("20") && digits.len() >= 11 => digits.clone(),
        None => format!("20{digits}"),
    };
    let national = &candidate[2..];
    let mobile = national.len() == 10
        && ["10", "11", "12", "15"]
            .iter()
            .any(|p| national.starts_with(p));
    // Landlines: Cairo/Giza (2, 3) have 8 subscriber digits; other areas 2-digit codes + 7.
    let landline = (national.len() == 9
        && (national.starts_with('2') || national.starts_with('3')))
        || (national.len() == 9 && !national.starts_with('1') && !national.starts_with('0'));
    if mobile || landline {
        Ok(Phone(candidate))
    } else {
        Err(PhoneError::Invalid(input.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones() {
        let ok = [
            ("01001234567", "201001234567"),
            ("+20 100 123 4567", "201001234567"),
            ("0020-100-123-4567", "201001234567"),
            ("٠١٠٠١٢٣٤٥٦٧", "201001234567"),
            ("۰۱۲۲۳۴۵۶۷۸۹", "201223456789"),
            ("1001234567", "201001234567"),
            ("201551234567", "201551234567"),
            ("(011) 1234-5678", "201112345678"),
            ("050 2234567", "20502234567"),
            ("+966 50 123 4567", "966501234567"),
            ("\u{200E}+201001234567", "201001234567"),
        ];
        for (input, want) in ok {
            assert_eq!(
                normalize_phone(input).map(|p| p.0),
                Ok(want.to_owned()),
                "{input}"
            );
        }
        for bad in [
            "",
            "0100123",
            "01301234567",
            "010012345678",
            "abc",
            "+0123",
            "01001234567x",
        ] {
            assert!(normalize_phone(bad).is_err(), "{bad}");
        }
        assert_eq!(
            normalize_phone("01001234567").unwrap().to_string(),
            "+201001234567"
        );
    }
}
