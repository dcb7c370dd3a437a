//! Text normalisation for search, so a word is found however it was spelled: Arabic diacritics
//! and tatweel removed, alef forms folded, ta marbuta -> ha, alef maqsura -> ya, hamza carriers
//! folded, Arabic-Indic digits -> Latin, case folded.

/// Normalises text for indexing and for queries (both sides go through this).
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            // Harakat, tanwin, shadda, sukun, superscript alef, Quranic marks, tatweel.
            '\u{0610}'..='\u{061A}'
            | '\u{064B}'..='\u{065F}'
            | '\u{0670}'
            | '\u{06D6}'..='\u{06ED}'
            | '\u{0640}' => {}
            c if crate::domain::csat::is_invisible_mark(c) => {}
            'أ' | 'إ' | 'آ' | 'ٱ' | 'ٲ' | 'ٳ' => out.push('ا'),
            'ة' => out.push('ه'),
            'ى' => out.push('ي'),
            'ؤ' => out.push('و'),
            'ئ' => out.push('ي'),
            'ی' => out.push('ي'), // Persian yeh
            'ک' => out.push('ك'), // Persian kaf
            '\u{0660}'..='\u{0669}' => out.push(char::from(b'0' + (c as u32 - 0x0660) as u8)),
            '\u{06F0}'..='\u{06F9}' => out.push(char::from(b'0' + (c as u32 - 0x06F0) as u8)),
            c => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// The word without the Arabic definite article (`الصيدليه` -> `صيدليه`), if it has one and
/// enough is left.
fn without_article(word: &str) -> Option<&str> {
    word.strip_prefix("ال")
        .filter(|rest| rest.chars().count() >= 2)
}

/// The text stored in the search index: normalised, plus every word that carries the
/// definite article once more without it, so "صيدلية" finds "الصيدلية".
pub fn index_text(text: &str) -> String {
    let norm = normalize(text);
    let extra: Vec<&str> = norm
        .split(|c: char| !c.is_alphanumeric())
        .filter_map(without_article)
        .collect();
    if extra.is_empty() {
        norm
    } else {
        format!("{norm} {}", extra.join(" "))
    }
}

/// An FTS5 MATCH expression for a user query: each normalised word (without the definite
/// article) becomes a quoted prefix term, all required. `None` if the query has no word.
pub fn fts_query(query: &str) -> Option<String> {
    let norm = normalize(query);
    let terms: Vec<String> = norm
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{}\"*", without_article(w).unwrap_or(w)))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_table() {
        let cases = [
            ("مُسْتَشْفَى", "مستشفي"),
            ("أحمد", "احمد"),
            ("إسعاف", "اسعاف"),
            ("آلام", "الام"),
            ("صيدلية", "صيدليه"),
            ("صيدليـــة", "صيدليه"),
            ("مستشفى", "مستشفي"),
            ("مسؤول", "مسوول"),
            ("دوائي", "دوايي"),
            ("٠١٠٠١٢٣٤٥٦٧", "01001234567"),
            ("۱۲۳", "123"),
            ("Panadol EXTRA", "panadol extra"),
            ("بَنَادُول", "بنادول"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize(input), want, "{input}");
        }
    }

    #[test]
    fn same_word_any_spelling() {
        assert_eq!(normalize("الصَّيْدَلِيَّة"), normalize("الصيدليه"));
        assert_eq!(normalize("إبرة"), normalize("ابره"));
    }

    #[test]
    fn definite_article() {
        assert_eq!(index_text("في الصيدلية"), "في الصيدليه صيدليه");
        assert_eq!(fts_query("الصيدلية").as_deref(), Some("\"صيدليه\"*"));
        assert_eq!(fts_query("الم").as_deref(), Some("\"الم\"*"));
    }

    #[test]
    fn fts_queries() {
        assert_eq!(fts_query("  "), None);
        assert_eq!(
            fts_query("بَنادول extra!").as_deref(),
            Some("\"بنادول\"* \"extra\"*")
        );
        assert_eq!(fts_query("a\"b").as_deref(), Some("\"a\"* \"b\"*"));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn normalisation_is_idempotent(s in "\\PC{0,40}") {
            let once = normalize(&s);
            prop_assert_eq!(normalize(&once), once);
        }

        #[test]
        fn queries_are_well_formed(s in "\\PC{0,40}") {
            if let Some(q) = fts_query(&s) {
                // Every term is `"word"*` with no quote inside the word.
                for term in q.split(' ') {
                    prop_assert!(term.starts_with('"') && term.ends_with("\"*"));
                    prop_assert!(!term[1..term.len() - 2].contains('"'));
                }
            }
        }

        #[test]
        fn digits_and_ratings_never_panic(s in "\\PC{0,8}") {
            let _ = crate::domain::csat::parse_rating(&s);
            let _ = crate::domain::menu::parse_choice(&s, 15);
            if let Ok(p) = crate::domain::phone::normalize_phone(&s) {
                let again = crate::domain::phone::normalize_phone(&format!("+{}", p.as_str()));
                prop_assert_eq!(again, Ok(p));
            }
        }
    }
}
