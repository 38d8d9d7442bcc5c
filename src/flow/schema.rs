//! OpenAPI schemas of the engine's values the derive cannot say: JSON values
//! of several types on the wire (an answer, a bound) and the attribute
//! object with the rules [`crate::onboarding::check_attributes`] enforces.
//! Each is written as JSON Schema (OpenAPI 3.1, which utoipa's own types
//! cannot all hold): the derive names the component (`value_type = Answer`),
//! [`components`] gives what the document puts under that name.

use serde_json::{Value, json};
use utoipa::openapi::{RefOr, schema::Schema};
use utoipa::{PartialSchema, ToSchema};

/// Marker types whose components [`components`] fills.
macro_rules! named {
    ($($name:ident),*) => {$(
        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                RefOr::T(Schema::Object(Default::default()))
            }
        }
        impl ToSchema for $name {}
    )*};
}

named!(Answer, Bound, Attributes);

/// The components `(name, JSON Schema)` named by this module's types.
pub fn components() -> [(&'static str, Value); 3] {
    [
        ("Answer", answer()),
        ("Bound", bound()),
        ("Attributes", attributes()),
    ]
}

/// A scalar attribute value: a string of up to 1,000 characters, a number,
/// a boolean or null.
fn scalar() -> Value {
    json!({"oneOf": [
        {"type": "string", "maxLength": 1000},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "null"},
    ]})
}

/// An answer as the app sends it: null (`none`), a choice key (`choice`),
/// a list of keys (`multi_choice`), a string (`text`), a number (`number`,
/// `1994` and `1994.0` being the same) or `"YYYY-MM-DD"` (`date`).
pub struct Answer;

fn answer() -> Value {
    json!({
        "description": "null (none), a choice key (choice), a list of choice keys (multi_choice), a string (text), a number (number) or \"YYYY-MM-DD\" (date); numbers compare by value (1994 is 1994.0)",
        "oneOf": [
            {"type": "null"},
            {"type": "string"},
            {"type": "number"},
            {"type": "array", "items": {"type": "string"}},
        ],
        "example": "lose_weight",
    })
}

/// A scene's `min` or `max`: a number (number input, text length in
/// characters as people see them, picked-choice count) or a date
/// `"YYYY-MM-DD"`; null when the sheet gives none.
pub struct Bound;

fn bound() -> Value {
    json!({
        "description": "A number (number input; text length in characters as people see them; how many choices may be picked) or a date \"YYYY-MM-DD\"; null: no bound.",
        "type": ["number", "string", "null"],
        "example": 30,
    })
}

/// A user's attributes: at most 64, named `[a-z0-9_]{1,64}`, each a scalar
/// or a list of at most 64 scalars; at most 32 KiB as JSON in all.
pub struct Attributes;

fn attributes() -> Value {
    json!({
        "description": "The user's attributes: install_source, campaign, gender, birth_year, platform, app_version, locale, nickname, subscription (others are kept too). At most 64, named [a-z0-9_]{1,64}; each a string (up to 1,000 characters), number, boolean, null or a list of at most 64 of those; at most 32 KiB as JSON.",
        "type": "object",
        "maxProperties": 64,
        "propertyNames": {"pattern": "^[a-z0-9_]{1,64}$"},
        "additionalProperties": {"oneOf": [
            {"type": "string", "maxLength": 1000},
            {"type": "number"},
            {"type": "boolean"},
            {"type": "null"},
            {"type": "array", "maxItems": 64, "items": scalar()},
        ]},
        "example": {"install_source": "diet_campaign", "nickname": "ゆき", "birth_year": 1994},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_components_say_what_the_server_checks() {
        let [(_, answer), (_, bound), (_, attributes)] = components();
        assert_eq!(answer["oneOf"].as_array().unwrap().len(), 4, "{answer}");
        assert_eq!(bound["type"], json!(["number", "string", "null"]));
        assert_eq!(
            attributes["propertyNames"]["pattern"], "^[a-z0-9_]{1,64}$",
            "{attributes}"
        );
        assert_eq!(attributes["maxProperties"], 64);
    }
}
