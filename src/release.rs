//! The release pipeline: deploy to staging, QA approval, publish, rollback.
//! The JSON API and the dashboard both go through here, so the rules
//! (four eyes, approval before publish) live in one place.
//!
//! Each pointer change is also mirrored to the object store as
//! `channels/<name>.json`, for deployments that follow a shared bucket
//! (`SCENEFLOW_FOLLOW=store`).

use serde::{Deserialize, Serialize};

use crate::storage::{Storage, StorageError};
use crate::store::channels::{self, ApprovalRow};
use crate::store::{Db, StoreError, versions};

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
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What `channels/<name>.json` in the store holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pointer {
    pub channel: String,
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
    pub channel: String,
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

impl Releases {
    async fn version(&self, id: &str) -> Result<versions::VersionRow, ReleaseError> {
        let lookup = id.to_owned();
        self.db
            .run(move |c| versions::find(c, &lookup))
            .await?
            .ok_or_else(|| ReleaseError::UnknownVersion(id.to_owned()))
    }

    pub async fn deploy_staging(&self, version: &str, actor: &str) -> Result<Change, ReleaseError> {
        self.version(version).await?;
        self.point(channels::STAGING, version, actor, "deploy")
            .await
    }

    pub async fn approve(&self, version: &str, actor: &str) -> Result<ApprovalRow, ReleaseError> {
        let row = self.version(version).await?;
        if let Some(existing) = self
            .db
            .run({
                let v = version.to_owned();
                move |c| channels::approval(c, &v)
            })
            .await?
        {
            return Ok(existing);
        }
        let staging = self
            .db
            .run(|c| channels::get(c, channels::STAGING))
            .await?
            .map(|c| c.version_id)
            .unwrap_or_default();
        if staging != version {
            return Err(ReleaseError::NotOnStaging {
                version: version.to_owned(),
                staging,
            });
        }
        if row.uploaded_by == actor && !self.allow_self_approval {
            return Err(ReleaseError::SelfApproval(version.to_owned()));
        }
        let (v, a) = (version.to_owned(), actor.to_owned());
        let approval = self.db.run(move |c| channels::approve(c, &v, &a)).await;
        match approval {
            Ok(row) => Ok(row),
            // Approved by somebody else at the same moment.
            Err(e) if e.is_unique_violation() => {
                let v = version.to_owned();
                Ok(self
                    .db
                    .run(move |c| channels::approval(c, &v))
                    .await?
                    .ok_or(e)?)
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn publish(&self, version: &str, actor: &str) -> Result<Change, ReleaseError> {
        self.version(version).await?;
        let v = version.to_owned();
        if self
            .db
            .run(move |c| channels::approval(c, &v))
            .await?
            .is_none()
        {
            return Err(ReleaseError::NotApproved(version.to_owned()));
        }
        let change = self
            .point(channels::PRODUCTION, version, actor, "publish")
            .await?;
        self.alerts.send(
            crate::alerts::Severity::Info,
            "published",
            format!(
                "{actor} published {version} to production (was {})",
                change.from.as_deref().unwrap_or("nothing")
            ),
        );
        Ok(change)
    }

    pub async fn rollback(&self, actor: &str) -> Result<Change, ReleaseError> {
        let a = actor.to_owned();
        let (from, to) = self
            .db
            .run(move |c| channels::rollback(c, channels::PRODUCTION, &a))
            .await?
            .ok_or(ReleaseError::NothingToRollBack)?;
        self.mirror(channels::PRODUCTION, &to, actor).await;
        self.alerts.send(
            crate::alerts::Severity::Warning,
            "rolled_back",
            format!("{actor} rolled production back from {from} to {to}"),
        );
        Ok(Change {
            channel: channels::PRODUCTION.into(),
            from: Some(from),
            to,
        })
    }

    async fn point(
        &self,
        channel: &'static str,
        version: &str,
        actor: &str,
        action: &'static str,
    ) -> Result<Change, ReleaseError> {
        let (v, a) = (version.to_owned(), actor.to_owned());
        let from = self
            .db
            .run(move |c| channels::set(c, channel, &v, &a, action))
            .await?;
        self.mirror(channel, version, actor).await;
        Ok(Change {
            channel: channel.into(),
            from,
            to: version.to_owned(),
        })
    }

    /// Write `channels/<name>.json`. The database is the source of truth for
    /// this deployment, so a failure here is logged, not returned.
    async fn mirror(&self, channel: &str, version: &str, actor: &str) {
        let result: Result<(), ReleaseError> = async {
            let row = self.version(version).await?;
            let v = version.to_owned();
            let approval = self.db.run(move |c| channels::approval(c, &v)).await?;
            let pointer = Pointer {
                channel: channel.to_owned(),
                version: row.id,
                sha256: row.sha256,
                store_key: row.store_key,
                approved_by: approval.map(|a| a.approved_by),
                published_by: actor.to_owned(),
                time: crate::store::now(),
            };
            let body = serde_json::to_vec_pretty(&pointer).expect("pointers serialise");
            self.storage
                .put(&pointer_key(channel), body, "application/json")
                .await?;
            Ok(())
        }
        .await;
        if let Err(e) = result {
            tracing::error!(channel, version, error = %e, "could not mirror the channel pointer to the store");
        }
    }
}

pub fn pointer_key(channel: &str) -> String {
    format!("channels/{channel}.json")
}

/// How often a follower reads the store's pointers.
pub const FOLLOW_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// `SCENEFLOW_FOLLOW=store`: serve whatever version the store's pointers
/// name, importing (and so re-validating) workbooks this database lacks.
pub async fn follow_store(
    importer: crate::master_data::import::Importer,
    alerts: crate::alerts::Alerts,
) {
    let mut tick = tokio::time::interval(FOLLOW_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_failure: [Option<String>; 2] = [None, None];
    loop {
        tick.tick().await;
        for (i, channel) in channels::ALL.into_iter().enumerate() {
            match follow_once(&importer, channel).await {
                Ok(()) => last_failure[i] = None,
                Err(e) => {
                    tracing::warn!(channel, error = %e, "could not follow the store's channel pointer");
                    // Alert once per distinct failure, not every second.
                    if last_failure[i].as_deref() != Some(e.as_str()) {
                        alerts.send(
                            crate::alerts::Severity::Critical,
                            "version_load_failed",
                            format!("cannot load the {channel} version named in the store: {e}"),
                        );
                    }
                    last_failure[i] = Some(e);
                }
            }
        }
    }
}

async fn follow_once(
    importer: &crate::master_data::import::Importer,
    channel: &'static str,
) -> Result<(), String> {
    use crate::master_data::import::Outcome;
    let Some(bytes) = importer
        .storage
        .get(&pointer_key(channel))
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(());
    };
    let pointer: Pointer = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    let current = importer
        .db
        .run(move |c| channels::get(c, channel))
        .await
        .map_err(|e| e.to_string())?;
    if current.is_some_and(|c| c.version_id == pointer.version) {
        return Ok(());
    }
    let v = pointer.version.clone();
    let known = importer
        .db
        .run(move |c| versions::find(c, &v))
        .await
        .map_err(|e| e.to_string())?
        .is_some();
    if !known {
        let workbook = importer
            .storage
            .get(&pointer.store_key)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{} is missing from the store", pointer.store_key))?;
        let name = pointer.store_key.rsplit('/').next().map(str::to_owned);
        match importer
            .import(workbook, name, "follow:store")
            .await
            .map_err(|e| e.to_string())?
        {
            Outcome::Created { version, .. } | Outcome::Existing { version, .. }
                if version.id == pointer.version => {}
            Outcome::Invalid { report } => {
                return Err(format!(
                    "version {} in the store is invalid here: {} error(s)",
                    pointer.version,
                    report.errors.len()
                ));
            }
            _ => {
                return Err(format!(
                    "{} does not hold version {}",
                    pointer.store_key, pointer.version
                ));
            }
        }
    }
    let v = pointer.version.clone();
    importer
        .db
        .run(move |c| channels::set(c, channel, &v, "follow:store", "follow"))
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(channel, version = %pointer.version, "following the store: channel moved");
    Ok(())
}
