//! The domain's words, on the ground floor: every module may use them and
//! they use nothing of the crate. Each is an enum whose string form (the
//! one stored in columns, sent in JSON and shown in the book) is derived
//! by `strum`, so a word is spelled once.

use serde::{Deserialize, Serialize};

/// A word: an enum with its string forms derived (`strum` for `Display`,
/// `FromStr` and `as_str`, serde for JSON, both in the case given), and
/// `as_str` and `parse`, the names the rest of the crate reads them by.
macro_rules! word {
    (
        $(#[$meta:meta])*
        $case:literal, pub enum $name:ident $(+ $extra:path)* {
            $($(#[$variant_meta:meta])* $variant:ident,)*
        }
    ) => {
        $(#[$meta])*
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
            $($extra,)*
        )]
        #[serde(rename_all = $case)]
        #[strum(serialize_all = $case)]
        pub enum $name {
            $($(#[$variant_meta])* $variant,)*
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                self.into()
            }

            pub fn parse(raw: &str) -> Option<$name> {
                raw.parse().ok()
            }
        }
    };
}

word! {
    /// A channel: a named pointer to a version (docs/src/release.md).
    "snake_case", pub enum Channel {
        Staging,
        Production,
    }
}

impl Channel {
    pub const ALL: [Channel; 2] = [Channel::Staging, Channel::Production];
}

word! {
    /// Admin roles, ordered: a call needs at least the role it names (docs/src/release.md
    /// "People and tokens").
    "lowercase", pub enum Role + PartialOrd + Ord + clap::ValueEnum {
        /// Only send outcome events (`POST /admin/api/events`), for a back
        /// end's nightly job; every other call refuses it.
        Ingest,
        /// Upload workbooks and deploy them to staging.
        Operator,
        /// Also approve the version on staging and use the QA tools.
        Qa,
        /// Also publish, roll back, and manage people and tokens.
        Admin,
    }
}

word! {
    /// How a stored A/B assignment was settled (column `assignments.source`).
    "snake_case", pub enum AssignmentSource {
        /// By the user's bucket, when the group's scene was first served.
        Bucket,
        /// By QA (`POST /debug/users/{id}/variant`).
        Forced,
    }
}

word! {
    /// What a sync did (docs/src/offline.md "Sync"; column `offline_syncs.outcome`).
    "snake_case", pub enum SyncOutcome {
        /// The offline run is the user's run.
        Accepted,
        /// The user's online run got further and stays.
        OnlineKept,
        /// A retry: the answer the first sync got.
        Replayed,
    }
}

word! {
    /// What the audit log records (column `audit_log.action`; docs/src/release.md,
    /// "People and tokens"; docs/src/qa.md).
    "snake_case", pub enum AuditAction {
        Upload,
        Deploy,
        Approve,
        Publish,
        Rollback,
        /// A pointer moved by `SCENEFLOW_FOLLOW=store`.
        Follow,
        /// The sample loaded on an empty database.
        Sample,
        UserAdd,
        UserReset,
        UserRemove,
        UserPassword,
        TokenCreate,
        TokenRevoke,
        DebugAddTester,
        DebugRemoveTester,
        DebugOverrides,
        DebugVariant,
        DebugJump,
        DebugReset,
        DebugSimulate,
        DebugView,
        MetricPut,
        MetricDelete,
        /// A staged rollout began (docs/src/rollouts.md).
        RolloutStart,
        /// A rollout widened to a larger percentage.
        RolloutWiden,
        /// A rollout reached 100 %: the version is production's.
        RolloutComplete,
        /// An admin aborted a rollout.
        RolloutAbort,
        /// A guardrail rolled a rollout back.
        RolloutRolledBack,
        /// In-progress runs moved from one version onto another.
        Rescue,
    }
}

word! {
    /// What a metric computes per exposed user in its window (docs/src/analytics.md
    /// "Outcomes and experiment results").
    "snake_case", pub enum MetricKind {
        /// 1 if the user has at least one such event, else 0.
        Binomial,
        /// The sum of the events' values, 0 if none.
        Mean,
        /// How many such events.
        Count,
    }
}

word! {
    /// Which way a metric should move.
    "snake_case", pub enum Direction {
        Increase,
        Decrease,
    }
}

word! {
    /// Who sent an outcome event (column `outcomes.source`).
    "snake_case", pub enum OutcomeSource {
        /// The app, with the user's mobile token (`POST /v1/events`).
        App,
        /// A back end, with an admin token (`POST /admin/api/events`).
        Backend,
    }
}

word! {
    /// What an alert is about (its `event` in Slack's text and PagerDuty's
    /// `dedup_key` and `component`; docs/src/operations.md).
    "snake_case", pub enum AlertKind {
        ReadinessLost,
        ReadinessRecovered,
        Published,
        RolledBack,
        ImportRefused,
        ImportFailed,
        VersionLoadFailed,
        ClientErrorsSpike,
        /// A stored workbook no longer hashes to its version.
        StoredFileMismatch,
        /// A staged rollout began, widened, completed or was aborted.
        Rollout,
        /// A guardrail was breached during a rollout.
        GuardrailBreached,
        /// Runs were rescued onto another version.
        Rescued,
    }
}

word! {
    /// Where a staged rollout stands (docs/src/rollouts.md).
    "snake_case", pub enum RolloutState {
        /// New runs are split by the rollout bucket.
        Running,
        /// Widened to 100 %: the version is production's.
        Completed,
        /// Stopped by an admin: new runs go to the previous version.
        Aborted,
        /// Stopped by a guardrail: new runs go to the previous version.
        RolledBack,
    }
}

word! {
    /// What an incident record is about (docs/src/rollouts.md "Incident record").
    "snake_case", pub enum IncidentKind {
        /// A guardrail rolled a rollout back.
        RolledBack,
        /// In-progress runs were moved onto another version.
        Rescued,
    }
}

word! {
    /// What an analytics aggregate counts (column `kind` of `analytics_counts`
    /// and `analytics_members`; docs/src/analytics.md "Analytics at scale"): distinct users
    /// who started, were shown or answered a step, went back to it, completed,
    /// were exposed to a variation, or completed after an exposure.
    "snake_case", pub enum AggregateKind {
        Started,
        SceneShown,
        Answered,
        WentBack,
        Completed,
        Exposure,
        Conversion,
        /// Rescued off this version at the step (docs/src/rollouts.md).
        Rescued,
    }
}

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
        use strum::VariantArray;
        for a in AuditAction::VARIANTS {
            assert_eq!(AuditAction::parse(a.as_str()), Some(*a));
        }
        assert_eq!(AuditAction::DebugAddTester.as_str(), "debug_add_tester");
    }
}
