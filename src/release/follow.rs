//! `SCENEFLOW_FOLLOW=store`: a deployment that serves whatever the shared
//! store's channel pointers name.

use super::{Pointer, pointer_key, pointers};
use crate::storage::StorageError;
use crate::store::{channels, versions};

/// How often a follower reads the store's pointers.
pub const FOLLOW_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// The most a pointer document may hold (a few hundred bytes in practice).
const POINTER_LIMIT: u64 = 64 * 1024;

/// Why a channel could not be followed.
struct Failure {
    message: String,
    /// The same pointer would fail the same way (it does not parse, its
    /// workbook is invalid here, not a file, too large): not acted on again
    /// until it changes. Otherwise (the database, the store) it is tried
    /// again at the next turn.
    lasting: bool,
}

impl Failure {
    fn passing(e: impl std::fmt::Display) -> Failure {
        Failure {
            message: e.to_string(),
            lasting: false,
        }
    }

    fn lasting(message: String) -> Failure {
        Failure {
            message,
            lasting: true,
        }
    }

    /// A store read: a file that is not one, or too large, stays so.
    fn of_storage(e: StorageError) -> Failure {
        let lasting = matches!(e, StorageError::NotAFile(_) | StorageError::TooLarge { .. });
        Failure {
            message: e.to_string(),
            lasting,
        }
    }
}

/// `SCENEFLOW_FOLLOW=store`: serve whatever version the store's pointers
/// name, importing (and so re-validating) workbooks this database lacks.
pub async fn follow_store(
    importer: crate::master_data::import::Importer,
    alerts: crate::alerts::Alerts,
) {
    let mut tick = tokio::time::interval(FOLLOW_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_failure: [Option<String>; 2] = [None, None];
    // A pointer whose failure lasts: not acted on again until it changes.
    let mut failed: [Option<Vec<u8>>; 2] = [None, None];
    loop {
        tick.tick().await;
        let [staging, production] = channels::Channel::ALL;
        // Both channels at once: one failing or slow channel never stops
        // the other from being followed.
        let turns = futures_util::future::join(
            follow_once(&importer, staging, failed[0].as_deref()),
            follow_once(&importer, production, failed[1].as_deref()),
        )
        .await;
        for (i, (channel, outcome)) in [(staging, turns.0), (production, turns.1)]
            .into_iter()
            .enumerate()
        {
            match outcome {
                Turn::Followed => {
                    last_failure[i] = None;
                    failed[i] = None;
                }
                // Reported when it first failed; its workbook is not read again.
                Turn::Unchanged => {}
                Turn::Failed(e, pointer) => {
                    tracing::warn!(channel = channel.as_str(), error = %e.message, "could not follow the store's channel pointer");
                    // Alert once per distinct failure, not every second.
                    if last_failure[i].as_deref() != Some(e.message.as_str()) {
                        alerts.send(
                            crate::alerts::Severity::Critical,
                            crate::words::AlertKind::VersionLoadFailed,
                            format!(
                                "cannot load the {channel} version named in the store: {}",
                                e.message
                            ),
                        );
                    }
                    failed[i] = pointer.filter(|_| e.lasting);
                    last_failure[i] = Some(e.message);
                }
            }
        }
    }
}

/// What one channel's turn did.
enum Turn {
    /// The channel serves what its pointer names (or there is no pointer).
    Followed,
    /// The pointer is the one that failed lastingly before.
    Unchanged,
    /// It failed; the pointer it was about, if it was read.
    Failed(Failure, Option<Vec<u8>>),
}

/// Follow one channel's pointer. Every read goes through the store's checked
/// reader (a regular file inside the root, its size known before it is
/// read, opened non-blocking): the pointer within [`POINTER_LIMIT`], the
/// workbook within the upload limit.
async fn follow_once(
    importer: &crate::master_data::import::Importer,
    channel: channels::Channel,
    failed: Option<&[u8]>,
) -> Turn {
    let bytes = match importer
        .storage
        .get_limited(&pointer_key(channel), POINTER_LIMIT)
        .await
    {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Turn::Followed,
        Err(e) => return Turn::Failed(Failure::of_storage(e), None),
    };
    if failed == Some(bytes.as_slice()) {
        return Turn::Unchanged;
    }
    match follow_pointer(importer, channel, &bytes).await {
        Ok(()) => Turn::Followed,
        Err(e) => Turn::Failed(e, Some(bytes)),
    }
}

async fn follow_pointer(
    importer: &crate::master_data::import::Importer,
    channel: channels::Channel,
    bytes: &[u8],
) -> Result<(), Failure> {
    use crate::master_data::import::Outcome;
    let pointer: Pointer =
        serde_json::from_slice(bytes).map_err(|e| Failure::lasting(e.to_string()))?;
    let current = importer
        .db
        .run(move |c| channels::get(c, channel))
        .await
        .map_err(Failure::passing)?;
    if current.is_some_and(|c| c.version_id == pointer.version) {
        return Ok(());
    }
    let v = pointer.version.clone();
    let known = importer
        .db
        .run(move |c| versions::find(c, &v))
        .await
        .map_err(Failure::passing)?
        .is_some();
    if !known {
        let workbook = importer
            .storage
            .get_limited(&pointer.store_key, importer.limits.max_bytes as u64)
            .await
            .map_err(Failure::of_storage)?
            // Perhaps not written yet: looked for again at the next turn.
            .ok_or_else(|| {
                Failure::passing(format!("{} is missing from the store", pointer.store_key))
            })?;
        let name = pointer.store_key.rsplit('/').next().map(str::to_owned);
        match importer
            .import(workbook, name, "follow:store")
            .await
            .map_err(Failure::passing)?
        {
            Outcome::Created { version, .. } | Outcome::Existing { version, .. }
                if version.id == pointer.version => {}
            Outcome::Invalid { report } => {
                return Err(Failure::lasting(format!(
                    "version {} in the store is invalid here: {} error(s)",
                    pointer.version,
                    report.errors.len()
                )));
            }
            _ => {
                return Err(Failure::lasting(format!(
                    "{} does not hold version {}",
                    pointer.store_key, pointer.version
                )));
            }
        }
    }
    let v = pointer.version.clone();
    importer
        .db
        .run(move |c| {
            pointers::set(
                c,
                channel,
                &v,
                "follow:store",
                crate::words::AuditAction::Follow,
            )
        })
        .await
        .map_err(Failure::passing)?;
    tracing::info!(channel = channel.as_str(), version = %pointer.version, "following the store: channel moved");
    Ok(())
}
