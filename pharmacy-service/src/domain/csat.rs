//! Customer-satisfaction replies: exactly one digit 1-5, Latin or Arabic-Indic.

/// The rating in a survey reply, or `None` when the text is anything else (then it is an
/// ordinary message). Surrounding whitespace and invisible direction marks are ignored.
pub fn parse_rating(text: &str) -> Option<u8> {
    let mut chars = text
        .chars()
        .filter(|c| !c.is_whitespace() && !is_invisible_mark(*c));
    let c = chars.next()?;
    if chars.next().is_some() {
        return None;
    }
    let d = match c {
        '1'..='5' => c as u32 - '0' as u32,
        // Arabic-Indic digits (U+0661..) and the Extended (Persian/Urdu) forms (U+06F1..).
        '\u{0661}'..='\u{0665}' => c as u32 - 0x0660,
        '\u{06F1}'..='\u{06F5}' => c as u32 - 0x06F0,
        _ => return None,
    };
    Some(d as u8)
}

/// Zero-width and bidirectional control characters that phones insert around digits.
pub fn is_invisible_mark(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}' | '\u{061C}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratings() {
        let cases = [
            ("5", Some(5)),
            ("1", Some(1)),
            (" 3 \n", Some(3)),
            ("٤", Some(4)),
            ("١", Some(1)),
            ("٥", Some(5)),
            ("۳", Some(3)),
            ("\u{200F}٢", Some(2)),
            ("0", None),
            ("6", None),
            ("٠", None),
            ("٦", None),
            ("55", None),
            ("5 stars", None),
            ("شكرا", None),
            ("", None),
            ("   ", None),
            ("5.", None),
            ("⑤", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_rating(input), want, "{input:?}");
        }
    }
}
