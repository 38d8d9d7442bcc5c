//! What a key is (docs/src/workbook.md): `[a-z0-9_]{1,64}`. Steps, scenes,
//! choices, `save_as` names, template variables and attribute names are keys;
//! the importer and the API check them here, the engine relies on it.

use serde::Serialize;

pub const MAX_KEY_LEN: usize = 64;

/// A key, checked when made.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Key(String);

impl Key {
    /// Whether `raw` is a key: `[a-z0-9_]{1,64}`.
    pub fn is_valid(raw: &str) -> bool {
        !raw.is_empty()
            && raw.len() <= MAX_KEY_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    }

    pub fn parse(raw: &str) -> Option<Key> {
        Key::is_valid(raw).then(|| Key(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Key {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_lowercase_ascii_digits_and_underscores() {
        assert_eq!(Key::parse("stay_fit_2").unwrap().as_str(), "stay_fit_2");
        for bad in ["", "Stay", "a-b", "ä", &"a".repeat(MAX_KEY_LEN + 1)] {
            assert!(Key::parse(bad).is_none(), "{bad}");
        }
        assert!(Key::is_valid(&"a".repeat(MAX_KEY_LEN)));
    }
}
