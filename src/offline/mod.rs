//! Offline onboarding (docs/src/offline.md): the signed bundle an
//! app plays without the server. The engine (`flow::bundle`) writes the
//! document; this module loads what it needs and signs the bytes.

pub mod signing;
pub mod sync;

use std::sync::Arc;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::flow::bundle::{self, Recipient};
use crate::onboarding::{self, OnboardingError};
use crate::store::{Db, FlowCache, StoreError, offline};
use crate::words::Channel;
pub use signing::BundleKey;

#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    #[error(transparent)]
    Onboarding(#[from] OnboardingError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The replay met an answer the server would not take; nothing stored.
    #[error("the offline run does not replay: see details for the first inconsistent answer")]
    Refused(Value),
    #[error("this sync_id was already used for a different run")]
    SyncIdReused,
    #[error("there is no version {0}")]
    UnknownVersion(String),
    /// The version exists but the user's channel never served it (an
    /// upload never released, or another channel's): no run can be on it.
    #[error("version {version} was never served on the {channel} channel")]
    NotServed { version: String, channel: Channel },
    /// The run says it started before its version existed.
    #[error(
        "started_at {started_at} is before version {version} existed ({created_at}); the run's times are not plausible"
    )]
    BeforeVersion {
        started_at: chrono::NaiveDateTime,
        version: String,
        created_at: chrono::NaiveDateTime,
    },
}

impl crate::onboarding::retry::Retryable for OfflineError {
    /// A lost race or a busy database: the sync runs again on a fresh read.
    fn is_retryable(&self) -> bool {
        match self {
            OfflineError::Onboarding(e) => e.is_retryable(),
            OfflineError::Store(e) => e.is_retryable(),
            _ => false,
        }
    }
}

impl From<diesel::result::Error> for OfflineError {
    fn from(e: diesel::result::Error) -> Self {
        OfflineError::Store(e.into())
    }
}

/// A bundle ready to send: the signed envelope and its entity tag.
pub struct SignedBundle {
    /// `{"payload": "<the bundle JSON>", "signature": {...}}`.
    pub envelope: Value,
    /// Quoted strong entity tag: version id and a digest of the assignments.
    pub etag: String,
}

/// The user's bundle: the version their channel serves, their assignments
/// (and a tester's QA overrides), signed with `key`.
pub async fn bundle(
    db: &Db,
    flows: &Arc<FlowCache>,
    key: &BundleKey,
    user_id: String,
) -> Result<SignedBundle, OfflineError> {
    let flows = flows.clone();
    let (flow, channel, assignments, overrides) = db
        .run_with(move |c| -> Result<_, OfflineError> {
            let who = onboarding::who(c, &user_id)?;
            // The version a new run of the user would start on: during a
            // rollout, the side of the user's rollout bucket.
            let version = onboarding::load::new_run_version(c, &who, &user_id)?;
            let flow = flows.get(c, &version)?;
            let assignments = onboarding::load::assignments(&offline::assignments_of(c, &user_id)?);
            Ok((flow, who.channel, (user_id, assignments), who.overrides))
        })
        .await?;
    let (user_id, assignments) = assignments;
    Ok(sign(
        key,
        &flow,
        &Recipient {
            user_id: &user_id,
            channel: channel.as_str(),
            assignments: &assignments,
            overrides: &overrides,
        },
    ))
}

fn sign(key: &BundleKey, flow: &crate::flow::CompiledFlow, to: &Recipient) -> SignedBundle {
    let payload = bundle::document(flow, to).to_string();
    // Over the whole document (user, assignments, overrides, and what a
    // server of this build writes of the version: a copy cached before the
    // bundle carried translations is refreshed) and the key.
    let mut hasher = Sha256::new();
    hasher.update(payload.as_bytes());
    hasher.update(key.key_id().as_bytes());
    let digest = hex::encode(hasher.finalize());
    let etag = format!("\"{}.{}\"", flow.version, &digest[..16]);
    let envelope = serde_json::json!({
        "payload": payload,
        "signature": key.sign(payload.as_bytes()),
    });
    SignedBundle { envelope, etag }
}

/// Whether an `If-None-Match` header names `etag` (or is `*`); weak tags match too.
pub fn not_modified(if_none_match: &str, etag: &str) -> bool {
    if_none_match
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_lists_and_weak_tags() {
        let tag = "\"4cdf2923d95f.0123456789abcdef\"";
        assert!(not_modified(tag, tag));
        assert!(not_modified(&format!("\"x\", W/{tag}"), tag));
        assert!(not_modified("*", tag));
        assert!(!not_modified("\"4cdf2923d95f.ffff\"", tag));
        assert!(!not_modified("", tag));
    }

    /// A copy cached before the bundle carried translations is not kept:
    /// the same version, user and assignments, other document, other tag.
    #[test]
    fn the_etag_changes_with_the_document() {
        use crate::flow::{FlowDef, SceneDef, SceneText};
        let scene = SceneDef {
            messages: vec!["ようこそ".into()],
            ..crate::flow::tests::scene("welcome", "welcome", "pass_through")
        };
        let mut translated = scene.clone();
        translated.translations.insert(
            "en".into(),
            SceneText {
                messages: vec![Some("Welcome".into())],
                placeholder: None,
            },
        );
        let key = BundleKey::from_seed(&[7; 32]);
        let none = crate::flow::Attributes::new();
        let to = Recipient {
            user_id: "u",
            channel: "production",
            assignments: &Default::default(),
            overrides: &none,
        };
        let tag = |scene: SceneDef| {
            let def = FlowDef {
                steps: vec!["welcome".into()],
                scenes: vec![scene],
                choices: vec![],
            };
            sign(&key, &crate::flow::CompiledFlow::compile("v1", def), &to).etag
        };
        assert_eq!(tag(scene.clone()), tag(scene.clone()));
        assert_ne!(tag(scene), tag(translated));
    }
}
