//! The domain's words, on the ground floor: every module may use them and
//! they use nothing of the crate. Each is an enum whose string form (the
//! one stored in columns, sent in JSON and shown in the README) is derived
//! by `strum`, so a word is spelled once.

use serde::{Deserialize, Serialize};

/// `as_str` and `parse` from the derived string forms, the names the rest
/// of the crate reads them by.
macro_rules! spelled {
    ($($ty:ty),* $(,)?) => {$(
        impl $ty {
            pub fn as_str(self) -> &'static str {
                self.into()
            }

            pub fn parse(raw: &str) -> Option<$ty> {
                raw.parse().ok()
            }
        }
    )*};
}

/// A channel: a named pointer to a version (README "Release pipeline").
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Channel {
    Staging,
    Production,
}

impl Channel {
    pub const ALL: [Channel; 2] = [Channel::Staging, Channel::Production];
}

/// Admin roles, ordered: a call needs at least the role it names (README
/// "People and tokens").
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Role {
    /// Upload workbooks and deploy them to staging.
    Operator,
    /// Also approve the version on staging and use the QA tools.
    Qa,
    /// Also publish, roll back, and manage people and tokens.
    Admin,
}

/// How a stored A/B assignment was settled (column `assignments.source`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum AssignmentSource {
    /// By the user's bucket, when the group's scene was first served.
    Bucket,
    /// By QA (`POST /debug/users/{id}/variant`).
    Forced,
}

/// What a sync did (README "Sync"; column `offline_syncs.outcome`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum SyncOutcome {
    /// The offline run is the user's run.
    Accepted,
    /// The user's online run got further and stays.
    OnlineKept,
    /// A retry: the answer the first sync got.
    Replayed,
}

spelled!(Channel, Role, AssignmentSource, SyncOutcome);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_read_back_as_written() {
        for c in Channel::ALL {
            assert_eq!(Channel::parse(c.as_str()), Some(c));
        }
        assert_eq!(Channel::Production.to_string(), "production");
        assert_eq!(Role::parse("qa"), Some(Role::Qa));
        assert_eq!(SyncOutcome::OnlineKept.as_str(), "online_kept");
        assert_eq!(
            AssignmentSource::parse("forced"),
            Some(AssignmentSource::Forced)
        );
        assert_eq!(Channel::parse("Production"), None, "stored spellings only");
    }
}
