//! The condition catalogue: named rules over a user's attributes.
//!
//! Each condition is one line of [`CATALOGUE`]; adding one is one line there
//! and a test below. Operators reference conditions by name in the workbook,
//! and validation uses this same list.

use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use serde_json::Value;

use super::values;
pub use super::values::Attributes;

/// Attributes a mobile app may send at start.
pub const KNOWN_START_ATTRIBUTES: [&str; 9] = [
    "install_source",
    "campaign",
    "gender",
    "birth_year",
    "platform",
    "app_version",
    "locale",
    "nickname",
    "subscription",
];

pub const PASS_THROUGH: &str = "pass_through";

/// An expression over attributes. Attribute values compare as normalised
/// text; `Range` and `Age` compare numbers, `VersionAtLeast` versions.
#[derive(Debug, Clone, Copy)]
pub enum Expr {
    Always,
    /// The attribute equals the value.
    Eq(&'static str, &'static str),
    /// The attribute is one of the values.
    OneOf(&'static str, &'static [&'static str]),
    /// The attribute is present and not blank.
    Present(&'static str),
    /// A numeric attribute in `[min, max)`; a missing bound is open.
    Range(&'static str, Option<f64>, Option<f64>),
    /// Age (current year − `birth_year`) within inclusive bounds.
    Age(Option<i32>, Option<i32>),
    /// A dotted version attribute (`app_version`) at or above the given one.
    VersionAtLeast(&'static str, &'static str),
    Not(&'static Expr),
    All(&'static [Expr]),
    Any(&'static [Expr]),
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Condition {
    pub name: &'static str,
    pub description: &'static str,
    #[serde(skip)]
    pub expr: Expr,
}

const fn cond(name: &'static str, description: &'static str, expr: Expr) -> Condition {
    Condition {
        name,
        description,
        expr,
    }
}

use Expr::*;

#[rustfmt::skip]
pub static CATALOGUE: &[Condition] = &[
    cond(PASS_THROUGH, "always matches", Always),
    cond("from_diet_campaign", "installed from the diet campaign (install_source = diet_campaign)", Eq("install_source", "diet_campaign")),
    cond("from_sleep_campaign", "installed from the sleep campaign (install_source = sleep_campaign)", Eq("install_source", "sleep_campaign")),
    cond("from_organic", "installed without a campaign (install_source blank or organic)", Any(&[Not(&Present("install_source")), Eq("install_source", "organic")])),
    cond("female", "gender is female", Eq("gender", "female")),
    cond("male", "gender is male", Eq("gender", "male")),
    cond("age_under_30", "younger than 30 (current year − birth_year)", Age(None, Some(29))),
    cond("age_30s", "aged 30 to 39 (current year − birth_year)", Age(Some(30), Some(39))),
    cond("age_40_plus", "aged 40 or more (current year − birth_year)", Age(Some(40), None)),
    cond("ios", "uses the iOS app (platform = ios)", Eq("platform", "ios")),
    cond("android", "uses the Android app (platform = android)", Eq("platform", "android")),
    cond("premium_member", "has a premium subscription (subscription = premium)", Eq("subscription", "premium")),
    cond("free_member", "has no premium subscription (subscription anything but premium, or missing)", Not(&Eq("subscription", "premium"))),
    cond("goal_lose_weight", "answered goal = lose_weight", Eq("goal", "lose_weight")),
    cond("goal_sleep_better", "answered goal = sleep_better", Eq("goal", "sleep_better")),
    cond("goal_eat_healthier", "answered goal = eat_healthier", Eq("goal", "eat_healthier")),
    cond("has_nickname", "told us a nickname", Present("nickname")),
    cond("japanese_locale", "device locale is Japanese (ja or ja-JP)", OneOf("locale", &["ja", "ja-JP", "ja_JP"])),
    cond("app_2_plus", "app version 2.0.0 or later", VersionAtLeast("app_version", "2.0.0")),
    cond("short_sleeper", "answered sleep_hours below 6", Range("sleep_hours", None, Some(6.0))),
    cond("weight_100_plus", "answered weight_kg of 100 or more", Range("weight_kg", Some(100.0), None)),
];

pub fn catalogue() -> &'static [Condition] {
    CATALOGUE
}

pub fn find(name: &str) -> Option<&'static Condition> {
    CATALOGUE.iter().find(|c| c.name == name)
}

/// The text form of an attribute, `None` when missing or blank; values are
/// normalised first (see [`super::values`]).
pub fn attribute_text(attrs: &Attributes, name: &str) -> Option<String> {
    values::text(attrs.get(name)?)
}

/// An attribute read as a number (JSON number or numeric string).
fn attribute_number(attrs: &Attributes, name: &str) -> Option<f64> {
    values::number(attrs.get(name)?)
}

impl Expr {
    pub fn eval(&self, attrs: &Attributes, today: NaiveDate) -> bool {
        match *self {
            Always => true,
            Eq(attr, value) => attribute_text(attrs, attr).as_deref() == Some(value),
            OneOf(attr, values) => {
                attribute_text(attrs, attr).is_some_and(|v| values.contains(&v.as_str()))
            }
            Present(attr) => attribute_text(attrs, attr).is_some(),
            Range(attr, min, max) => attribute_number(attrs, attr)
                .is_some_and(|n| min.is_none_or(|m| n >= m) && max.is_none_or(|m| n < m)),
            Age(min, max) => {
                let Some(year) = attribute_number(attrs, "birth_year")
                    .filter(|y| y.fract() == 0.0 && y.abs() < 1e6)
                else {
                    return false;
                };
                let age = today.year() - year as i32;
                min.is_none_or(|m| age >= m) && max.is_none_or(|m| age <= m)
            }
            VersionAtLeast(attr, min) => attribute_text(attrs, attr)
                .and_then(|v| values::version(&v))
                .zip(values::version(min))
                .is_some_and(|(have, want)| values::compare_versions(&have, &want).is_ge()),
            Not(inner) => !inner.eval(attrs, today),
            All(parts) => parts.iter().all(|p| p.eval(attrs, today)),
            Any(parts) => parts.iter().any(|p| p.eval(attrs, today)),
        }
    }

    /// The attributes this expression reads, for operators and QA.
    pub fn attributes(&self, out: &mut Vec<&'static str>) {
        let mut add = |a: &'static str| {
            if !out.contains(&a) {
                out.push(a)
            }
        };
        match *self {
            Always => {}
            Eq(a, _) | OneOf(a, _) | Present(a) | Range(a, ..) | VersionAtLeast(a, _) => add(a),
            Age(..) => add("birth_year"),
            Not(inner) => inner.attributes(out),
            All(parts) | Any(parts) => parts.iter().for_each(|p| p.attributes(out)),
        }
    }
}

impl Expr {
    /// The expression in the JSON expression language of offline bundles
    /// (docs/src/offline.md, "Conditions as data"): what [`Expr::eval`] computes, as data a
    /// client can evaluate itself.
    pub fn to_json(&self) -> Value {
        use serde_json::json;
        match *self {
            Always => json!({"op": "always"}),
            Eq(attribute, value) => json!({"op": "eq", "attribute": attribute, "value": value}),
            OneOf(attribute, values) => {
                json!({"op": "in", "attribute": attribute, "values": values})
            }
            Present(attribute) => json!({"op": "present", "attribute": attribute}),
            Range(attribute, min, max) => {
                json!({"op": "range", "attribute": attribute, "min": min, "max": max})
            }
            Age(min, max) => json!({"op": "age", "min": min, "max": max}),
            VersionAtLeast(attribute, version) => {
                json!({"op": "version_at_least", "attribute": attribute, "version": version})
            }
            Not(inner) => json!({"op": "not", "of": inner.to_json()}),
            All(parts) => {
                json!({"op": "all", "of": parts.iter().map(Expr::to_json).collect::<Vec<_>>()})
            }
            Any(parts) => {
                json!({"op": "any", "of": parts.iter().map(Expr::to_json).collect::<Vec<_>>()})
            }
        }
    }
}

impl Condition {
    pub fn attributes(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        self.expr.attributes(&mut out);
        out
    }

    pub fn matches(&self, attrs: &Attributes, today: NaiveDate) -> bool {
        self.expr.eval(attrs, today)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn attrs(v: Value) -> Attributes {
        serde_json::from_value(v).unwrap()
    }

    fn check(name: &str, v: Value) -> bool {
        let today = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        find(name).unwrap().matches(&attrs(v), today)
    }

    #[test]
    fn names_are_unique_keys() {
        let mut names: Vec<_> = CATALOGUE.iter().map(|c| c.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), CATALOGUE.len());
        assert!(names.iter().all(|n| {
            n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        }));
    }

    #[test]
    fn contract_conditions_behave() {
        assert!(check("pass_through", json!({})));
        assert!(check(
            "from_diet_campaign",
            json!({"install_source": "diet_campaign"})
        ));
        assert!(!check(
            "from_diet_campaign",
            json!({"install_source": "sleep_campaign"})
        ));
        assert!(check(
            "from_sleep_campaign",
            json!({"install_source": "sleep_campaign"})
        ));
        assert!(check("from_organic", json!({})));
        assert!(check("from_organic", json!({"install_source": " "})));
        assert!(check("from_organic", json!({"install_source": "organic"})));
        assert!(!check(
            "from_organic",
            json!({"install_source": "diet_campaign"})
        ));
        assert!(check("female", json!({"gender": "female"})));
        assert!(check("male", json!({"gender": "male"})));
        assert!(!check("male", json!({})));
        assert!(check("age_under_30", json!({"birth_year": 1997})));
        assert!(!check("age_under_30", json!({"birth_year": 1996})));
        assert!(check("age_30s", json!({"birth_year": "1996"})));
        assert!(check("age_30s", json!({"birth_year": 1987})));
        assert!(check("age_40_plus", json!({"birth_year": 1986})));
        assert!(!check("age_40_plus", json!({})));
        assert!(check("ios", json!({"platform": "ios"})));
        assert!(check("android", json!({"platform": "android"})));
        assert!(check("premium_member", json!({"subscription": "premium"})));
        assert!(check("free_member", json!({})));
        assert!(check("free_member", json!({"subscription": "trial"})));
        assert!(!check("free_member", json!({"subscription": "premium"})));
        assert!(check("goal_lose_weight", json!({"goal": "lose_weight"})));
        assert!(check("goal_sleep_better", json!({"goal": "sleep_better"})));
        assert!(check(
            "goal_eat_healthier",
            json!({"goal": "eat_healthier"})
        ));
    }

    #[test]
    fn extra_conditions_behave() {
        assert!(check("has_nickname", json!({"nickname": "ゆき"})));
        assert!(!check("has_nickname", json!({"nickname": ""})));
        assert!(check("japanese_locale", json!({"locale": "ja-JP"})));
        assert!(check("app_2_plus", json!({"app_version": "2.10.1"})));
        assert!(!check("app_2_plus", json!({"app_version": "1.99"})));
        assert!(!check("app_2_plus", json!({"app_version": "beta"})));
        assert!(check("short_sleeper", json!({"sleep_hours": 5.5})));
        assert!(!check("short_sleeper", json!({"sleep_hours": 6})));
        assert!(!check("short_sleeper", json!({})));
        assert!(check("weight_100_plus", json!({"weight_kg": "100"})));
        assert!(!check("weight_100_plus", json!({"weight_kg": 99.9})));
    }

    #[test]
    fn conditions_list_the_attributes_they_read() {
        assert_eq!(
            find("from_organic").unwrap().attributes(),
            vec!["install_source"]
        );
        assert_eq!(find("age_30s").unwrap().attributes(), vec!["birth_year"]);
        assert!(find("pass_through").unwrap().attributes().is_empty());
    }

    /// One value in several spellings a client may send.
    #[derive(Debug, Clone)]
    enum Base {
        Int(i64),
        Version(Vec<u64>),
        Word(&'static str),
        Flag(bool),
    }

    fn spellings(base: &Base) -> Vec<Value> {
        match base {
            Base::Int(n) => vec![
                json!(n),
                json!(*n as f64),
                json!(n.to_string()),
                json!(format!(" {n} ")),
                json!(format!("{n}.0")),
            ],
            Base::Version(parts) => {
                let text = |p: &[u64]| p.iter().map(u64::to_string).collect::<Vec<_>>().join(".");
                let mut padded = parts.clone();
                padded.extend([0, 0]);
                let mut out = vec![
                    json!(text(parts)),
                    json!(text(&padded)),
                    json!(format!(" {} ", text(parts))),
                ];
                if let [major] = parts.as_slice() {
                    out.push(json!(major));
                    out.push(json!(*major as f64));
                }
                out
            }
            Base::Word(w) => vec![json!(w), json!(format!(" {w}")), json!(format!("{w}\t"))],
            Base::Flag(b) => vec![json!(b), json!(b.to_string()), json!(format!(" {b} "))],
        }
    }

    fn base() -> impl Strategy<Value = Base> {
        prop_oneof![
            (1900i64..2030).prop_map(Base::Int),
            (0i64..200).prop_map(Base::Int),
            proptest::sample::select(vec![
                "premium",
                "organic",
                "diet_campaign",
                "sleep_campaign",
                "female",
                "male",
                "ios",
                "android",
                "ja",
                "ja-JP",
                "lose_weight",
                "sleep_better",
                "eat_healthier",
                "",
            ])
            .prop_map(Base::Word),
            any::<bool>().prop_map(Base::Flag),
        ]
    }

    fn read_attributes() -> Vec<&'static str> {
        let mut out = Vec::new();
        for c in CATALOGUE {
            c.expr.attributes(&mut out);
        }
        out
    }

    proptest! {
        #[test]
        fn every_spelling_of_a_value_gives_the_same_result(
            values in proptest::collection::vec(
                (base(), proptest::collection::vec(0u64..12, 1..4), 0usize..8),
                16,
            ),
            year in 2000i32..2100,
        ) {
            let today = NaiveDate::from_ymd_opt(year, 6, 1).unwrap();
            let names = read_attributes();
            // Versions are not numbers: `app_version` gets a version.
            let bases: Vec<(&str, Base, usize)> = names.iter().zip(values)
                .map(|(n, (b, parts, pick))| {
                    (*n, if *n == "app_version" { Base::Version(parts) } else { b }, pick)
                })
                .collect();
            let canonical: Attributes = bases.iter()
                .map(|(n, b, _)| (n.to_string(), spellings(b)[0].clone()))
                .collect();
            let respelled: Attributes = bases.iter()
                .map(|(n, b, pick)| {
                    let all = spellings(b);
                    (n.to_string(), all[pick % all.len()].clone())
                })
                .collect();
            for c in CATALOGUE {
                prop_assert_eq!(
                    c.matches(&canonical, today),
                    c.matches(&respelled, today),
                    "{} with {:?} vs {:?}", c.name, canonical, respelled
                );
            }
        }
    }

    #[test]
    fn client_spellings_of_birth_year_and_versions() {
        for year in [json!(1994), json!(1994.0), json!("1994"), json!(" 1994 ")] {
            assert!(check("age_30s", json!({"birth_year": year})), "{year}");
        }
        assert!(check("app_2_plus", json!({"app_version": "2"})));
        assert!(check("app_2_plus", json!({"app_version": 2.0})));
        assert!(check("app_2_plus", json!({"app_version": "2.0"})));
        assert!(check(
            "premium_member",
            json!({"subscription": " premium "})
        ));
    }
}
