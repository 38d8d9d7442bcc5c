//! Languages: BCP 47 tags of workbook columns, and which of a workbook's
//! languages a user is served (docs/src/mobile-api.md "Languages").
//!
//! Tags are parsed and checked against the IANA subtag registry by the
//! `language-tags` crate (already used by actix-web for `Accept-Language`).

use icu_locale::{Locale, LocaleCanonicalizer, LocaleExpander};
use language_tags::LanguageTag;

/// A language range in its canonical form by UTS #35 (Unicode BCP 47 with
/// CLDR's aliases; `Intl.getCanonicalLocales` in the JavaScript player):
/// deprecated codes Android still reports become the preferred ones
/// (`iw` → `he`, `in` → `id`, `ji` → `yi`, `mo` → `ro`), grandfathered tags
/// their replacements (`art-lojban` → `jbo`), `_` is `-`, and the case is
/// canonical. A range that does not parse is kept as given (it can only
/// match a workbook tag spelled the same).
pub fn canonical(range: &str) -> String {
    let tag = range.trim().replace('_', "-");
    match tag.parse::<Locale>() {
        Ok(mut locale) => {
            // CLDR's alias data, compiled in: a `const` constructor, free to build.
            let canonicalizer: LocaleCanonicalizer<LocaleExpander> =
                LocaleCanonicalizer::new_extended();
            canonicalizer.canonicalize(&mut locale);
            locale.to_string()
        }
        Err(_) => tag,
    }
}

/// Why a column's language tag is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    #[error("'{0}' is not a well-formed BCP 47 language tag ({1})")]
    Malformed(String, String),
    #[error("'{0}' is well-formed but not a known language ({1})")]
    Unknown(String, String),
}

/// A tag in its canonical case (`en-us` → `en-US`), registered subtags only.
pub fn parse_tag(raw: &str) -> Result<String, TagError> {
    let tag = LanguageTag::parse(raw.trim())
        .map_err(|e| TagError::Malformed(raw.to_owned(), e.to_string()))?;
    tag.validate()
        .map_err(|e| TagError::Unknown(raw.to_owned(), e.to_string()))?;
    Ok(tag.into_string())
}

/// A likely intended tag for a refused one: `en_US` → `en-US`.
pub fn suggest_tag(raw: &str) -> Option<String> {
    let fixed = raw.trim().replace('_', "-");
    (fixed != raw).then(|| parse_tag(&fixed).ok()).flatten()
}

/// The language ranges a user asks for, best first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wanted(pub Vec<String>);

impl Wanted {
    /// From an `Accept-Language` header value: ranges ordered by q-value
    /// (stable for equal q), `q=0` and `*` dropped, malformed entries ignored.
    pub fn from_accept_language(header: &str) -> Wanted {
        let mut ranked: Vec<(u16, usize, String)> = header
            .split(',')
            .take(32)
            .enumerate()
            .filter_map(|(i, item)| {
                let mut parts = item.split(';');
                let range = parts.next()?.trim();
                let mut q = 1000u16;
                for param in parts {
                    let (k, v) = param.split_once('=')?;
                    if k.trim().eq_ignore_ascii_case("q") {
                        q = parse_q(v.trim())?;
                    }
                }
                (q > 0 && usable(range)).then(|| (q, i, range.to_owned()))
            })
            .collect();
        ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        Wanted(ranked.into_iter().map(|(_, _, r)| r).collect())
    }

    /// From a list of language ranges, best first, as an app lists its
    /// preferred languages (the sync body's `languages`): each entry is
    /// taken like one of `Accept-Language` (trimmed; blank, `*` and ranges
    /// over 64 bytes dropped; the first 32 entries only).
    pub fn from_list<S: AsRef<str>>(ranges: &[S]) -> Wanted {
        Wanted(
            ranges
                .iter()
                .take(32)
                .map(|r| r.as_ref().trim())
                .filter(|r| usable(r))
                .map(str::to_owned)
                .collect(),
        )
    }

    /// One language, as the start attribute `locale` gives it (`ja_JP` too).
    pub fn one(raw: &str) -> Wanted {
        Wanted(vec![raw.trim().replace('_', "-")])
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A range worth looking up: not blank, not `*`, at most 64 bytes.
fn usable(range: &str) -> bool {
    range != "*" && !range.is_empty() && range.len() <= 64
}

/// q-values: 0 to 1 with up to three decimals, as thousandths.
fn parse_q(v: &str) -> Option<u16> {
    let n: f64 = v.parse().ok()?;
    (0.0..=1.0)
        .contains(&n)
        .then(|| (n * 1000.0).round() as u16)
}

/// A workbook's languages (its `::tag` columns) with their [`canonical`]
/// forms, computed once when the flow is compiled: negotiation compares
/// canonical forms on every request without parsing the workbook's tags.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Languages {
    tags: Vec<String>,
    canonical: Vec<String>,
}

impl Languages {
    pub fn new(tags: Vec<String>) -> Languages {
        let canonical = tags.iter().map(|t| canonical(t)).collect();
        Languages { tags, canonical }
    }

    /// The tags as the workbook writes them.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }
}

/// The workbook language served for `wanted`: for each wanted range in
/// order, in its [`canonical`] form, the first of `available` (also
/// canonical) equal to it (case-insensitive) or to it with trailing subtags
/// dropped (`en-US` → `en`); `None` is the default language (the
/// unsuffixed columns). So `iw-IL` is served the `::he` texts.
pub fn negotiate(available: &Languages, wanted: &Wanted) -> Option<String> {
    for range in &wanted.0 {
        let range = canonical(range);
        let mut candidate = range.as_str();
        loop {
            let found = available
                .canonical
                .iter()
                .position(|a| a.eq_ignore_ascii_case(candidate));
            if let Some(i) = found {
                return Some(available.tags[i].clone());
            }
            match candidate.rfind('-') {
                Some(cut) => {
                    candidate = &candidate[..cut];
                    // A single-letter subtag (an extension's singleton) never
                    // stands alone.
                    if candidate.len() >= 2 && candidate.as_bytes()[candidate.len() - 2] == b'-' {
                        candidate = &candidate[..candidate.len() - 2];
                    }
                }
                None => break,
            }
        }
    }
    None
}

/// The languages a text is looked up in for `served`, best first: the
/// served tag, then each shorter form the workbook also provides
/// (`en-US` → `en`); the default language comes after them all.
pub fn chain<'a>(available: &'a [String], served: Option<&str>) -> Vec<&'a str> {
    let mut out = Vec::new();
    let Some(mut tag) = served else {
        return out;
    };
    loop {
        if let Some(found) = available.iter().find(|a| a.eq_ignore_ascii_case(tag)) {
            out.push(found.as_str());
        }
        match tag.rfind('-') {
            Some(cut) => tag = &tag[..cut],
            None => return out,
        }
    }
}

/// The language served to a user: the attribute `locale` (start attribute,
/// or a QA override) when set, else the request's `Accept-Language`.
pub fn served(
    available: &Languages,
    attributes: &super::Attributes,
    accept_language: &Wanted,
) -> Option<String> {
    if available.tags.is_empty() {
        return None;
    }
    match attributes.get("locale").and_then(|v| v.as_str()) {
        Some(raw) if !raw.trim().is_empty() => negotiate(available, &Wanted::one(raw)),
        _ => negotiate(available, accept_language),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn langs(list: &[&str]) -> Languages {
        Languages::new(list.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn parses_tags_in_canonical_case_and_refuses_bad_ones() {
        assert_eq!(parse_tag("en-us").unwrap(), "en-US");
        assert_eq!(parse_tag("zh-hant-tw").unwrap(), "zh-Hant-TW");
        assert!(matches!(parse_tag("en_US"), Err(TagError::Malformed(..))));
        assert!(matches!(parse_tag("english"), Err(TagError::Unknown(..))));
        assert!(matches!(parse_tag("xx"), Err(TagError::Unknown(..))));
        assert!(matches!(parse_tag(""), Err(TagError::Malformed(..))));
        assert_eq!(suggest_tag("en_US").as_deref(), Some("en-US"));
        assert_eq!(suggest_tag("english"), None);
    }

    #[test]
    fn accept_language_is_ranked_by_q() {
        let w = Wanted::from_accept_language("fr;q=0.5, ja-JP, en;q=0.8, de;q=0, *;q=0.1, x;q=2");
        assert_eq!(w.0, vec!["ja-JP", "en", "fr"]);
        assert!(Wanted::from_accept_language("").is_empty());
        assert_eq!(Wanted::one("ja_JP").0, vec!["ja-JP"]);
        let list = Wanted::from_list(&[" ja-JP ", "", "*", "en", &"x".repeat(65)]);
        assert_eq!(list.0, vec!["ja-JP", "en"]);
    }

    #[test]
    fn falls_back_from_region_to_language_to_default() {
        let available = langs(&["en", "en-US", "ja"]);
        let n = |w: &str| negotiate(&available, &Wanted::from_accept_language(w));
        assert_eq!(n("en-US").as_deref(), Some("en-US"));
        assert_eq!(n("en-us").as_deref(), Some("en-US"));
        assert_eq!(n("en-GB").as_deref(), Some("en"));
        assert_eq!(n("ja-JP-x-phone").as_deref(), Some("ja"));
        assert_eq!(n("fr, en-GB;q=0.5").as_deref(), Some("en"));
        assert_eq!(n("fr"), None);
        assert_eq!(n(""), None);
        assert_eq!(negotiate(&langs(&["en-US"]), &Wanted::one("en")), None);
        assert_eq!(chain(available.tags(), Some("en-US")), vec!["en-US", "en"]);
    }

    #[test]
    fn deprecated_and_grandfathered_tags_are_read_as_the_registry_says() {
        let available = langs(&["he", "id", "yi", "ja"]);
        let n = |w: &str| negotiate(&available, &Wanted::from_accept_language(w));
        assert_eq!(n("iw-IL").as_deref(), Some("he"));
        assert_eq!(n("in-ID").as_deref(), Some("id"));
        assert_eq!(n("ji").as_deref(), Some("yi"));
        assert_eq!(
            negotiate(&available, &Wanted::one("iw_IL")).as_deref(),
            Some("he")
        );
        assert_eq!(canonical("art-lojban"), "jbo");
        assert_eq!(canonical("mo"), "ro");
        assert_eq!(canonical("zh-hant-tw"), "zh-Hant-TW");
        assert_eq!(canonical(" en_us "), "en-US");
        // A workbook that still uses an old code serves the new one too.
        assert_eq!(
            negotiate(&langs(&["iw"]), &Wanted::one("he")).as_deref(),
            Some("iw")
        );
        assert_eq!(chain(available.tags(), Some("ja")), vec!["ja"]);
        assert!(chain(available.tags(), None).is_empty());
    }
}
