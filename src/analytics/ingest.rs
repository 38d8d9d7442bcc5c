//! Outcome events as they arrive: checked one by one, the whole batch
//! refused at the first bad one (docs/src/analytics.md "Outcomes and experiment results").

use chrono::{DateTime, Datelike, NaiveDateTime};
use serde_json::Value;

use crate::store::outcomes::NewOutcome;
use crate::words::OutcomeSource;

/// Events one app call may carry.
pub const MAX_APP_EVENTS: usize = 100;
/// Events one back-end call may carry.
pub const MAX_BACKEND_EVENTS: usize = 1000;
/// How far ahead of the server's clock an event's time may be, in seconds.
const CLOCK_SKEW_SECS: i64 = 300;
/// The largest |value| an event may carry: far beyond any purchase, and
/// small enough that the sums of squares of 10⁷ users stay exact enough.
pub const MAX_VALUE: f64 = 1e12;
/// No event happened before this year.
const EARLIEST_YEAR: i32 = 2000;

/// An event as sent: a JSON object with `id`, `name`, and optionally
/// `value` and `time` (and `user_id` from a back end); other members are
/// ignored, as everywhere in the API. Read field by field, so a refusal
/// names the event's index and the field, never a parser's type.
pub type EventBody = Value;

/// A refused batch: the index of the first bad event and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub index: usize,
    pub message: String,
}

fn text<'a>(value: &'a Value, what: &str) -> Result<&'a str, String> {
    value
        .as_str()
        .ok_or_else(|| format!("{what} must be a string"))
}

/// Check a batch from `source` (the user is the token's for the app,
/// each event's `user_id` for a back end), as of `now`.
pub fn check(
    events: Vec<EventBody>,
    user: Option<&str>,
    source: OutcomeSource,
    now: NaiveDateTime,
) -> Result<Vec<NewOutcome>, Refused> {
    let most = match source {
        OutcomeSource::App => MAX_APP_EVENTS,
        OutcomeSource::Backend => MAX_BACKEND_EVENTS,
    };
    if events.len() > most {
        return Err(Refused {
            index: most,
            message: format!("at most {most} events per call"),
        });
    }
    events
        .into_iter()
        .enumerate()
        .map(|(index, e)| one(e, user, source, now).map_err(|message| Refused { index, message }))
        .collect()
}

fn one(
    e: EventBody,
    user: Option<&str>,
    source: OutcomeSource,
    now: NaiveDateTime,
) -> Result<NewOutcome, String> {
    let Value::Object(fields) = e else {
        return Err("an event is an object: {\"id\", \"name\", \"value\", \"time\"}".into());
    };
    let get = |key: &str| fields.get(key).filter(|v| !v.is_null());
    let id = text(get("id").ok_or("id is required")?, "id")?;
    if id.is_empty() || id.chars().count() > 128 {
        return Err("id must be 1 to 128 characters".into());
    }
    let user_id = match (user, get("user_id")) {
        (Some(user), _) => user.to_owned(),
        (None, Some(v)) => {
            let u = text(v, "user_id")?;
            if u.is_empty() || u.len() > 255 {
                return Err("user_id must be 1 to 255 bytes".into());
            }
            u.to_owned()
        }
        (None, None) => return Err("user_id is required".into()),
    };
    let name = text(get("name").ok_or("name is required")?, "name")?;
    if !crate::flow::Key::is_valid(name) {
        return Err(format!("name '{name}' must match [a-z0-9_]{{1,64}}"));
    }
    let value = match get("value") {
        None => 1.0,
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|v| v.is_finite() && v.abs() <= MAX_VALUE)
            .ok_or("value must be a number between -10^12 and 10^12")?,
        Some(_) => return Err("value must be a number".into()),
    };
    let occurred_at = match get("time") {
        None => now,
        Some(v) => {
            let raw = text(v, "time")?;
            let t = DateTime::parse_from_rfc3339(raw)
                .map_err(|_| {
                    format!("time '{raw}' must be RFC 3339 with an offset (2026-12-07T09:30:00Z)")
                })?
                .naive_utc();
            if t.year() < EARLIEST_YEAR {
                return Err(format!("time {raw} is before {EARLIEST_YEAR}"));
            }
            if t > now + chrono::Duration::seconds(CLOCK_SKEW_SECS) {
                return Err(format!("time {raw} is more than 5 minutes in the future"));
            }
            t
        }
    };
    Ok(NewOutcome {
        user_id,
        event_id: id.to_owned(),
        name: name.to_owned(),
        value,
        occurred_at,
        received_at: now,
        source: source.as_str().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Vec<EventBody> {
        v.as_array().unwrap().clone()
    }

    fn now() -> NaiveDateTime {
        DateTime::parse_from_rfc3339("2026-12-07T10:00:00Z")
            .unwrap()
            .naive_utc()
    }

    #[test]
    fn defaults_and_refusals() {
        let ok = check(
            body(json!([{"id": "p1", "name": "purchase", "value": 9.99, "time": "2026-12-07T18:00:00+09:00"},
                        {"id": "s1", "name": "subscribed"}])),
            Some("u1"),
            OutcomeSource::App,
            now(),
        )
        .unwrap();
        assert_eq!(ok[0].occurred_at, now() - chrono::Duration::hours(1));
        assert_eq!((ok[1].value, ok[1].occurred_at), (1.0, now()));
        for (bad, index) in [
            (
                json!([{"id": "a", "name": "ok"}, {"id": "", "name": "ok"}]),
                1,
            ),
            (json!([{"id": "a", "name": "Bad-Name"}]), 0),
            (json!([{"id": "a", "name": "ok", "value": "1"}]), 0),
            (json!([{"id": "a", "name": "ok", "value": 1e200}]), 0),
            (
                json!([{"id": "a", "name": "ok", "time": "2026-12-07T10:06:00Z"}]),
                0,
            ),
            (
                json!([{"id": "a", "name": "ok", "time": "1999-12-31T23:59:59Z"}]),
                0,
            ),
            (
                json!([{"id": "a", "name": "ok", "time": "2026-12-07 10:00"}]),
                0,
            ),
            (json!([{"id": 7, "name": "ok"}]), 0),
            (json!([{"id": "a", "name": "ok"}, 1]), 1),
            (json!([{"name": "ok"}]), 0),
        ] {
            let refused =
                check(body(bad.clone()), Some("u"), OutcomeSource::App, now()).unwrap_err();
            assert_eq!(refused.index, index, "{bad}: {refused:?}");
        }
        let refused = check(
            body(json!([{"id": "a", "name": "ok"}])),
            None,
            OutcomeSource::Backend,
            now(),
        );
        assert_eq!(refused.unwrap_err().index, 0, "a back end names the user");
        let many: Vec<Value> = (0..101)
            .map(|i| json!({"id": i.to_string(), "name": "ok"}))
            .collect();
        assert!(
            check(
                body(Value::Array(many)),
                Some("u"),
                OutcomeSource::App,
                now()
            )
            .is_err()
        );
    }
}
