//! The record index: a compact JSON array of strings such as `["mute","<jid>"]`.
//! A dedicated codec because the index bytes are MACed, so their exact form
//! matters (compact, JavaScript `JSON.stringify` escaping), and because the
//! crate takes no JSON dependency.

use super::AppStateError;

/// Encodes index parts as compact JSON, escaping as `JSON.stringify` does.
///
/// ```
/// use whatsapp_proto::appstate::{encode_index, parse_index};
/// let json = encode_index(&["mute", "1555@s.whatsapp.net"]);
/// assert_eq!(json, br#"["mute","1555@s.whatsapp.net"]"#);
/// assert_eq!(parse_index(&json).unwrap(), ["mute", "1555@s.whatsapp.net"]);
/// ```
pub fn encode_index<S: AsRef<str>>(parts: &[S]) -> Vec<u8> {
    let mut out = String::from("[");
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        for c in part.as_ref().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push(']');
    out.into_bytes()
}

fn bad(reason: &'static str, offset: usize) -> AppStateError {
    AppStateError::BadIndex { reason, offset }
}

/// Parses an index: a JSON array whose elements are all strings.
pub fn parse_index(json: &[u8]) -> Result<Vec<String>, AppStateError> {
    let text = std::str::from_utf8(json).map_err(|e| bad("invalid UTF-8", e.valid_up_to()))?;
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        pos: 0,
    };
    p.ws();
    p.expect(b'[')?;
    let mut parts = Vec::new();
    p.ws();
    if p.peek() == Some(b']') {
        p.pos += 1;
    } else {
        loop {
            p.ws();
            parts.push(p.string()?);
            p.ws();
            match p.next() {
                Some(b',') => continue,
                Some(b']') => break,
                _ => return Err(bad("expected , or ]", p.pos.saturating_sub(1))),
            }
        }
    }
    p.ws();
    if p.pos != p.s.len() {
        return Err(bad("trailing data", p.pos));
    }
    Ok(parts)
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, want: u8) -> Result<(), AppStateError> {
        if self.next() == Some(want) {
            Ok(())
        } else {
            Err(bad("unexpected character", self.pos.saturating_sub(1)))
        }
    }

    fn hex4(&mut self) -> Result<u32, AppStateError> {
        let start = self.pos;
        let digits = self
            .text
            .get(start..start + 4)
            .ok_or_else(|| bad("truncated \\u escape", start))?;
        let v = u32::from_str_radix(digits, 16).map_err(|_| bad("bad \\u escape", start))?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("bad \\u escape", start));
        }
        self.pos += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, AppStateError> {
        if self.next() != Some(b'"') {
            return Err(bad("element is not a string", self.pos.saturating_sub(1)));
        }
        let mut out = String::new();
        loop {
            let start = self.pos;
            // Copy the run of plain characters at once; the run ends at an ASCII
            // byte, so slicing `text` there is on a char boundary.
            while matches!(self.peek(), Some(b) if b != b'"' && b != b'\\' && b >= 0x20) {
                self.pos += 1;
            }
            out.push_str(&self.text[start..self.pos]);
            match self.next() {
                Some(b'"') => return Ok(out),
                Some(b'\\') => {
                    let esc = self
                        .next()
                        .ok_or_else(|| bad("truncated escape", self.pos))?;
                    match esc {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let c = if (0xD800..0xDC00).contains(&hi)
                                && self.s.get(self.pos..self.pos + 2) == Some(b"\\u")
                            {
                                let save = self.pos;
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                                } else {
                                    // Not a pair: the high half alone is unpaired.
                                    self.pos = save;
                                    None
                                }
                            } else {
                                char::from_u32(hi)
                            };
                            // Unpaired surrogates become U+FFFD, as Go's decoder does.
                            out.push(c.unwrap_or('\u{FFFD}'));
                        }
                        _ => return Err(bad("unknown escape", self.pos - 1)),
                    }
                }
                Some(_) => return Err(bad("control character in string", self.pos - 1)),
                None => return Err(bad("unterminated string", self.pos)),
            }
        }
    }
}
