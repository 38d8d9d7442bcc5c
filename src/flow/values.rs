//! Attribute values as real clients send them, normalised once.
//!
//! Android JSON libraries turn whole numbers into doubles (`1994.0`), apps
//! send numbers as strings (`"1994"`), versions come in every length
//! (`"2"`, `"2.0.0"`). [`normalise`] gives every spelling of a value one
//! form; conditions and templates read attributes only through it, so the
//! catalogue gives the same result for every equivalent spelling (docs/src/workbook.md,
//! "How attribute values are compared").

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde_json::{Number, Value};

/// A user's attributes: start attributes, answers and overrides merged.
pub type Attributes = BTreeMap<String, Value>;

/// Whole numbers of a double are exact up to 2^53.
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

/// The one form of an attribute value: whole-number floats become integers,
/// booleans the strings `true`/`false`, strings are trimmed, lists
/// normalised element by element. Normalising twice changes nothing.
pub fn normalise(value: &Value) -> Value {
    match value {
        Value::Number(n) => Value::Number(normalise_number(n)),
        Value::String(s) => Value::String(s.trim().to_owned()),
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Array(items) => Value::Array(items.iter().map(normalise).collect()),
        Value::Null | Value::Object(_) => value.clone(),
    }
}

/// Whether two answers are the same answer, as a retry is recognised
/// (docs/src/mobile-api.md; docs/src/offline.md "Sync"): numbers by value (`1994`, `1994.0` and
/// `1.994e3` are one number), strings as the engine reads them (trimmed),
/// lists item by item in order, objects key by key; otherwise the JSON
/// types must agree (`"1994"` is not `1994`).
pub fn same_answer(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => same_number(x, y),
        (Value::String(x), Value::String(y)) => x.trim() == y.trim(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_answer(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, a)| y.get(k).is_some_and(|b| same_answer(a, b)))
        }
        _ => a == b,
    }
}

fn same_number(x: &Number, y: &Number) -> bool {
    match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
        (Some(a), Some(b), _, _) => a == b,
        (_, _, Some(a), Some(b)) => a == b,
        _ => x.as_f64() == y.as_f64(),
    }
}

/// The one form of a value for recognising a retry (the digest of a sync
/// request): numbers as [`normalise`] writes them, strings trimmed, lists
/// and objects element by element; booleans and null as they are.
pub fn canonical(value: &Value) -> Value {
    match value {
        Value::Number(n) => Value::Number(normalise_number(n)),
        Value::String(s) => Value::String(s.trim().to_owned()),
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), canonical(v))).collect())
        }
        Value::Null | Value::Bool(_) => value.clone(),
    }
}

/// [`normalise`] every value of a set of attributes.
pub fn normalise_all(attrs: &Attributes) -> Attributes {
    attrs
        .iter()
        .map(|(k, v)| (k.clone(), normalise(v)))
        .collect()
}

fn normalise_number(n: &Number) -> Number {
    if n.is_i64() || n.is_u64() {
        return n.clone();
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() <= MAX_EXACT => Number::from(f as i64),
        _ => n.clone(),
    }
}

/// The text form of a normalised value; `None` for null, objects and blanks.
pub fn text(value: &Value) -> Option<String> {
    let text = match normalise(value) {
        Value::Null | Value::Object(_) => return None,
        Value::String(s) => s,
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Array(items) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", "),
    };
    (!text.is_empty()).then_some(text)
}

/// A value read as a number where a condition compares numbers: JSON
/// numbers, and strings that hold one (`"1994"`, `" 1994.0 "`).
pub fn number(value: &Value) -> Option<f64> {
    let n = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    n.filter(|n| n.is_finite())
}

/// A dotted version (`2`, `2.1`, `v2.1.0`): its numeric parts.
pub fn version(raw: &str) -> Option<Vec<u64>> {
    let raw = raw.trim();
    let raw = raw.strip_prefix(['v', 'V']).unwrap_or(raw);
    raw.split('.').map(|p| p.trim().parse().ok()).collect()
}

/// Versions compare part by part; a missing part counts as zero (`2` = `2.0.0`).
pub fn compare_versions(a: &[u64], b: &[u64]) -> Ordering {
    let len = a.len().max(b.len());
    (0..len)
        .map(|i| {
            a.get(i)
                .copied()
                .unwrap_or(0)
                .cmp(&b.get(i).copied().unwrap_or(0))
        })
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_retry_is_the_same_answer_by_value_not_by_spelling() {
        let same = |a: Value, b: Value| same_answer(&a, &b);
        assert!(same(json!(1994), json!(1994.0)));
        assert!(same(json!(62.5), json!(6.25e1)));
        assert!(same(json!(" ゆき "), json!("ゆき")));
        assert!(same(json!(["a", 1]), json!(["a", 1.0])));
        assert!(!same(json!(["a", "b"]), json!(["b", "a"])));
        assert!(!same(json!("1994"), json!(1994)));
        assert!(!same(json!(1994), json!(1995)));
        assert!(same(json!(null), json!(null)));
        assert_eq!(
            canonical(&json!({"a": [1994.0, " x "]})),
            json!({"a": [1994, "x"]})
        );
    }

    #[test]
    fn whole_floats_become_integers() {
        assert_eq!(normalise(&json!(1994.0)), json!(1994));
        assert_eq!(normalise(&json!(-3.0)), json!(-3));
        assert_eq!(normalise(&json!(5.5)), json!(5.5));
        assert_eq!(text(&json!(1994.0)).as_deref(), Some("1994"));
    }

    #[test]
    fn booleans_strings_and_lists() {
        assert_eq!(normalise(&json!(true)), json!("true"));
        assert_eq!(normalise(&json!("  premium ")), json!("premium"));
        assert_eq!(normalise(&json!([1.0, " a "])), json!([1, "a"]));
        assert_eq!(text(&json!("   ")), None);
        assert_eq!(text(&json!(null)), None);
    }

    #[test]
    fn normalising_is_idempotent() {
        for v in [
            json!(1994.0),
            json!(" x "),
            json!(false),
            json!([2.0, true]),
        ] {
            assert_eq!(normalise(&normalise(&v)), normalise(&v));
        }
    }

    #[test]
    fn numbers_from_strings() {
        assert_eq!(number(&json!(" 1994.0 ")), Some(1994.0));
        assert_eq!(number(&json!("abc")), None);
        assert_eq!(number(&json!("NaN")), None);
    }

    #[test]
    fn versions_pad_missing_parts_with_zero() {
        let v = |s| version(s).unwrap();
        assert_eq!(compare_versions(&v("2"), &v("2.0.0")), Ordering::Equal);
        assert_eq!(compare_versions(&v("2.10"), &v("2.9.9")), Ordering::Greater);
        assert_eq!(compare_versions(&v("1.99"), &v("2")), Ordering::Less);
        assert_eq!(version("beta"), None);
    }
}
