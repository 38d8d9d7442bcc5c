//! Keys, their normal form, and "did you mean" suggestions.

use unicode_normalization::UnicodeNormalization;

pub use crate::flow::key::MAX_KEY_LEN;

/// `[a-z0-9_]{1,64}`: what a key is belongs to the engine ([`crate::flow::Key`]).
pub fn is_valid_key(raw: &str) -> bool {
    crate::flow::Key::is_valid(raw)
}

/// NFKC, trimmed, lower-cased, every run of other characters replaced by `_`,
/// leading and trailing `_` removed: `"Stay Fit "` → `stay_fit`.
pub fn normalise_key(raw: &str) -> String {
    let folded: String = raw.nfkc().collect::<String>().trim().to_lowercase();
    let mut out = String::with_capacity(folded.len());
    let mut in_run = false;
    for c in folded.chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' {
            out.push(c);
            in_run = false;
        } else if !in_run {
            out.push('_');
            in_run = true;
        }
    }
    out.trim_matches('_').to_owned()
}

/// The normalised key when it would be a valid key, for a suggestion.
pub fn suggested_key(raw: &str) -> Option<String> {
    let key = normalise_key(raw);
    is_valid_key(&key).then_some(key)
}

/// The candidate closest to `needle`, if it is close enough to be a likely typo.
pub fn nearest<'a>(needle: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let wanted = normalise_key(needle);
    let wanted = if wanted.is_empty() {
        needle.to_lowercase()
    } else {
        wanted
    };
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(&wanted, c), c))
        .filter(|(d, c)| *d <= (c.chars().count() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_owned())
}

/// Spreadsheet column letters: 0 → `A`, 26 → `AA`.
pub fn column_letter(index: u32) -> String {
    let mut n = index + 1;
    let mut out = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        out.push(b'A' + rem as u8);
        n = (n - 1) / 26;
    }
    out.reverse();
    String::from_utf8(out).expect("ASCII letters")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_the_contract_says() {
        assert_eq!(normalise_key("Stay Fit "), "stay_fit");
        assert_eq!(normalise_key("\u{3000}welcome\u{3000}"), "welcome");
        assert_eq!(normalise_key("ＧＯＡＬ"), "goal");
        assert_eq!(normalise_key("a -- b"), "a_b");
        assert_eq!(normalise_key("__x__"), "x");
        assert_eq!(normalise_key("目標"), "");
        assert_eq!(suggested_key("目標"), None);
    }

    #[test]
    fn keys() {
        assert!(is_valid_key("goal_1"));
        assert!(!is_valid_key("Goal"));
        assert!(!is_valid_key(" goal"));
        assert!(!is_valid_key(""));
        assert!(!is_valid_key(&"a".repeat(65)));
    }

    #[test]
    fn nearest_finds_typos_only() {
        let keys = ["welcome", "goal", "body"];
        assert_eq!(nearest("welcom", keys), Some("welcome".into()));
        assert_eq!(nearest("Goal ", keys), Some("goal".into()));
        assert_eq!(nearest("completely_else", keys), None);
    }

    #[test]
    fn letters() {
        assert_eq!(column_letter(0), "A");
        assert_eq!(column_letter(25), "Z");
        assert_eq!(column_letter(26), "AA");
        assert_eq!(column_letter(701), "ZZ");
        assert_eq!(column_letter(702), "AAA");
    }
}
