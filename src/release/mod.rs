//! The release pipeline: deploy to staging, QA approval, publish, rollback.
//! The JSON API and the dashboard both go through here, so the rules
//! (four eyes, approval before publish) live in one place.
//!
//! Each pointer change is also mirrored to the object store as
//! `channels/<name>.json`, for deployments that follow a shared bucket
//! (`SCENEFLOW_FOLLOW=store`).

mod follow;
pub mod guard;
pub mod incident;
mod pointers;
pub mod rollout;

pub use follow::{FOLLOW_INTERVAL, follow_store};

use diesel::Connection;
use serde::{Deserialize, Serialize};

use crate::auth::Role;
use crate::storage::{Storage, StorageError};
use crate::store::channels::{self, ApprovalRow, Channel};
use crate::store::{AnyConnection, Db, StoreError, versions};
use crate::words::{AlertKind, AuditAction};

/// What a person can do to a release; each needs a role, checked by both the
/// JSON API and the dashboard from here (docs/src/release.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Deploy,
    Approve,
    Publish,
    Rollback,
}

impl Action {
    pub fn required_role(self) -> Role {
        match self {
            Action::Deploy => Role::Operator,
            Action::Approve => Role::Qa,
            Action::Publish | Action::Rollback => Role::Admin,
        }
    }

    /// The name in URLs and in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Deploy => "deploy",
            Action::Approve => "approve",
            Action::Publish => "publish",
            Action::Rollback => "rollback",
        }
    }

    pub fn parse(raw: &str) -> Option<Action> {
        [
            Action::Deploy,
            Action::Approve,
            Action::Publish,
            Action::Rollback,
        ]
        .into_iter()
        .find(|a| a.as_str() == raw)
    }

    /// The action that points `channel` at a version.
    pub fn pointing(channel: Channel) -> Action {
        match channel {
            Channel::Staging => Action::Deploy,
            Channel::Production => Action::Publish,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("there is no version '{0}'")]
    UnknownVersion(String),
    #[error(
        "version {version} is not on staging (staging serves {staging}); deploy it to staging first"
    )]
    NotOnStaging { version: String, staging: String },
    #[error("version {0} was uploaded by you; another person must approve it")]
    SelfApproval(String),
    #[error("version {0} has not been approved by QA on staging")]
    NotApproved(String),
    #[error("production has no earlier version to roll back to")]
    NothingToRollBack,
    #[error("a rollout of {0} is running on production: widen it to 100, or abort it, first")]
    RolloutRunning(String),
    #[error("no rollout is running on production")]
    NoRollout,
    #[error("a rollout cannot narrow: it is at {from} %, so {to} % is refused")]
    Narrowing { from: f64, to: f64 },
    #[error("rollout_percent must be a number above 0 and at most 100, not {0}")]
    InvalidPercent(f64),
    #[error("production serves no version yet: publish one before rolling another out")]
    NothingToRollOutOver,
    #[error("production already serves {0}")]
    AlreadyServed(String),
    #[error("rollout_percent is for production only: staging serves one version to every tester")]
    StagingRollout,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<diesel::result::Error> for ReleaseError {
    fn from(e: diesel::result::Error) -> Self {
        ReleaseError::Store(e.into())
    }
}

/// What `channels/<name>.json` in the store holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pointer {
    pub channel: Channel,
    pub version: String,
    pub sha256: String,
    pub store_key: String,
    pub approved_by: Option<String>,
    pub published_by: String,
    pub time: chrono::NaiveDateTime,
}

/// A pointer change: the channel, from which version, to which.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub channel: Channel,
    pub from: Option<String>,
    pub to: String,
}

#[derive(Clone)]
pub struct Releases {
    pub db: Db,
    pub storage: Storage,
    /// Single-person teams: the uploader may approve their own version.
    pub allow_self_approval: bool,
    pub alerts: crate::alerts::Alerts,
}

/// A pointer moved in the database: the change, and what the store's mirror needs.
struct Moved {
    change: Change,
    pointer: Pointer,
}

fn find_version(c: &mut AnyConnection, id: &str) -> Result<versions::VersionRow, ReleaseError> {
    versions::find(c, id)?.ok_or_else(|| ReleaseError::UnknownVersion(id.to_owned()))
}

/// A publish or a rollback moves production's pointer under a running
/// rollout's feet: refused until the rollout completes or ends.
fn refuse_during_rollout(c: &mut AnyConnection) -> Result<(), ReleaseError> {
    match crate::store::rollouts::running(c, Channel::Production)? {
        Some(r) => Err(ReleaseError::RolloutRunning(r.version_id)),
        None => Ok(()),
    }
}

/// Move `channel` to `version` inside the caller's transaction, and describe
/// the new pointer for the mirror.
fn point(
    c: &mut AnyConnection,
    channel: Channel,
    version: versions::VersionRow,
    actor: &str,
    action: AuditAction,
) -> Result<Moved, ReleaseError> {
    let from = pointers::set(c, channel, &version.id, actor, action)?;
    moved(c, channel, from, version, actor)
}

/// The change and the mirror's document of `channel` now at `version`.
fn moved(
    c: &mut AnyConnection,
    channel: Channel,
    from: Option<String>,
    version: versions::VersionRow,
    actor: &str,
) -> Result<Moved, ReleaseError> {
    let approval = channels::approval(c, &version.id)?;
    Ok(Moved {
        change: Change {
            channel,
            from,
            to: version.id.clone(),
        },
        pointer: Pointer {
            channel,
            version: version.id,
            sha256: version.sha256,
            store_key: version.store_key,
            approved_by: approval.map(|a| a.approved_by),
            published_by: actor.to_owned(),
            time: crate::store::now(),
        },
    })
}

impl Releases {
    /// Point `channel` at `version`: deploy to staging or publish to production.
    pub async fn point(
        &self,
        channel: Channel,
        version: &str,
        actor: &str,
    ) -> Result<Change, ReleaseError> {
        match channel {
            Channel::Staging => self.deploy_staging(version, actor).await,
            Channel::Production => self.publish(version, actor).await,
        }
    }

    pub async fn deploy_staging(&self, version: &str, actor: &str) -> Result<Change, ReleaseError> {
        let (v, a) = (version.to_owned(), actor.to_owned());
        let moved = self
            .db
            .run_with(move |c| {
                c.transaction::<_, ReleaseError, _>(|c| {
                    let row = find_version(c, &v)?;
                    point(c, Channel::Staging, row, &a, AuditAction::Deploy)
                })
            })
            .await?;
        self.mirror(&moved.pointer).await;
        Ok(moved.change)
    }

    pub async fn approve(&self, version: &str, actor: &str) -> Result<ApprovalRow, ReleaseError> {
        let (v, a, self_ok) = (
            version.to_owned(),
            actor.to_owned(),
            self.allow_self_approval,
        );
        let approval = self
            .db
            .run_with(move |c| {
                c.transaction::<_, ReleaseError, _>(|c| {
                    let row = find_version(c, &v)?;
                    if let Some(existing) = channels::approval(c, &v)? {
                        return Ok(existing);
                    }
                    let staging = channels::get(c, channels::Channel::Staging)?
                        .map(|c| c.version_id)
                        .unwrap_or_default();
                    if staging != v {
                        return Err(ReleaseError::NotOnStaging {
                            version: v.clone(),
                            staging,
                        });
                    }
                    if row.uploaded_by == a && !self_ok {
                        return Err(ReleaseError::SelfApproval(v.clone()));
                    }
                    Ok(pointers::approve(c, &v, &a)?)
                })
            })
            .await;
        match approval {
            // Approved by somebody else at the same moment.
            Err(ReleaseError::Store(e)) if e.is_unique_violation() => {
                let v = version.to_owned();
                Ok(self
                    .db
                    .run(move |c| channels::approval(c, &v))
                    .await?
                    .ok_or(e)?)
            }
            other => other,
        }
    }

    pub async fn publish(&self, version: &str, actor: &str) -> Result<Change, ReleaseError> {
        let (v, a) = (version.to_owned(), actor.to_owned());
        let moved = self
            .db
            .run_with(move |c| {
                c.transaction::<_, ReleaseError, _>(|c| {
                    let row = find_version(c, &v)?;
                    if channels::approval(c, &v)?.is_none() {
                        return Err(ReleaseError::NotApproved(v.clone()));
                    }
                    refuse_during_rollout(c)?;
                    point(c, Channel::Production, row, &a, AuditAction::Publish)
                })
            })
            .await?;
        self.mirror(&moved.pointer).await;
        let change = moved.change;
        self.alerts.send(
            crate::alerts::Severity::Info,
            AlertKind::Published,
            format!(
                "{actor} published {version} to production (was {})",
                change.from.as_deref().unwrap_or("nothing")
            ),
        );
        Ok(change)
    }

    pub async fn rollback(&self, actor: &str) -> Result<Change, ReleaseError> {
        let a = actor.to_owned();
        let moved = self
            .db
            .run_with(move |c| {
                c.transaction::<_, ReleaseError, _>(|c| {
                    refuse_during_rollout(c)?;
                    let (from, to) = pointers::rollback(c, channels::Channel::Production, &a)?
                        .ok_or(ReleaseError::NothingToRollBack)?;
                    let row = find_version(c, &to)?;
                    moved(c, channels::Channel::Production, Some(from), row, &a)
                })
            })
            .await?;
        self.mirror(&moved.pointer).await;
        let change = moved.change;
        self.alerts.send(
            crate::alerts::Severity::Warning,
            AlertKind::RolledBack,
            format!(
                "{actor} rolled production back from {} to {}",
                change.from.as_deref().unwrap_or_default(),
                change.to
            ),
        );
        Ok(change)
    }

    /// On an empty database: point every channel that has no version yet at
    /// the built-in sample. Not mirrored to the store: a fresh deployment must
    /// not overwrite the pointers of others sharing the bucket.
    pub async fn seed_sample(&self, version: &str) -> Result<(), ReleaseError> {
        for channel in Channel::ALL {
            let v = version.to_owned();
            let result = self
                .db
                .run_with(move |c| {
                    c.transaction::<_, ReleaseError, _>(|c| match channels::get(c, channel)? {
                        Some(_) => Ok(()),
                        None => {
                            pointers::set(c, channel, &v, "system", AuditAction::Sample)?;
                            Ok(())
                        }
                    })
                })
                .await;
            match result {
                Ok(()) => {}
                // Another instance seeded it at the same moment.
                Err(ReleaseError::Store(e)) if e.is_unique_violation() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Write `channels/<name>.json`. The database is the source of truth for
    /// this deployment, so a failure here is logged, not returned.
    async fn mirror(&self, pointer: &Pointer) {
        let body = serde_json::to_vec_pretty(pointer).expect("pointers serialise");
        if let Err(e) = self
            .storage
            .put(&pointer_key(pointer.channel), body, "application/json")
            .await
        {
            tracing::error!(channel = %pointer.channel, version = %pointer.version, error = %e,
                "could not mirror the channel pointer to the store");
        }
    }
}

pub fn pointer_key(channel: Channel) -> String {
    format!("channels/{channel}.json")
}
