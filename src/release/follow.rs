//! `SCENEFLOW_FOLLOW=store`: a deployment that serves whatever the shared
//! store's channel pointers name.

use super::{Pointer, pointer_key, pointers};
use crate::store::{channels, versions};

/// How often a follower reads the store's pointers.
pub const FOLLOW_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// The most a pointer document may hold (a few hundred bytes in practice).
const POINTER_LIMIT: u64 = 64 * 1024;

/// The longest one channel's turn may take; the other channel is followed
/// meanwhile all the same.
const TURN_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// `SCENEFLOW_FOLLOW=store`: serve whatever version the store's pointers
/// name, importing (and so re-validating) workbooks this database lacks.
pub async fn follow_store(
    importer: crate::master_data::import::Importer,
    alerts: crate::alerts::Alerts,
) {
    let mut tick = tokio::time::interval(FOLLOW_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_failure: [Option<String>; 2] = [None, None];
    // The pointer a failure was about: not read again until it changes.
    let mut failed: [Option<Vec<u8>>; 2] = [None, None];
    loop {
        tick.tick().await;
        let [staging, production] = channels::Channel::ALL;
        // Both channels at once, each bounded: one stuck or failing channel
        // never holds the other.
        let turns = futures_util::future::join(
            turn(&importer, staging, failed[0].as_deref()),
            turn(&importer, production, failed[1].as_deref()),
        )
        .await;
        for (i, (channel, outcome)) in [(staging, turns.0), (production, turns.1)]
            .into_iter()
            .enumerate()
        {
            match outcome {
                Ok(()) => {
                    last_failure[i] = None;
                    failed[i] = None;
                }
                // Reported when it first failed; the workbook is not read again.
                Err((e, pointer)) if e == SAME => failed[i] = pointer,
                Err((e, pointer)) => {
                    tracing::warn!(channel = channel.as_str(), error = %e, "could not follow the store's channel pointer");
                    // Alert once per distinct failure, not every second.
                    if last_failure[i].as_deref() != Some(e.as_str()) {
                        alerts.send(
                            crate::alerts::Severity::Critical,
                            crate::words::AlertKind::VersionLoadFailed,
                            format!("cannot load the {channel} version named in the store: {e}"),
                        );
                    }
                    last_failure[i] = Some(e);
                    failed[i] = pointer;
                }
            }
        }
    }
}

/// One channel's turn, bounded by [`TURN_LIMIT`]; on failure, the error
/// and the pointer it was about (if it was read).
async fn turn(
    importer: &crate::master_data::import::Importer,
    channel: channels::Channel,
    failed: Option<&[u8]>,
) -> Result<(), (String, Option<Vec<u8>>)> {
    match tokio::time::timeout(TURN_LIMIT, follow_once(importer, channel, failed)).await {
        Ok(outcome) => outcome,
        Err(_) => Err((
            format!(
                "reading the store took more than {} s",
                TURN_LIMIT.as_secs()
            ),
            None,
        )),
    }
}

/// Follow one channel's pointer. Every read goes through the store's checked
/// reader (a regular file inside the root, its size known before it is
/// read), the pointer within [`POINTER_LIMIT`], the workbook within the
/// upload limit. A pointer that `failed` before is not acted on again.
async fn follow_once(
    importer: &crate::master_data::import::Importer,
    channel: channels::Channel,
    failed: Option<&[u8]>,
) -> Result<(), (String, Option<Vec<u8>>)> {
    let Some(bytes) = importer
        .storage
        .get_limited(&pointer_key(channel), POINTER_LIMIT)
        .await
        .map_err(|e| (e.to_string(), None))?
    else {
        return Ok(());
    };
    if failed == Some(bytes.as_slice()) {
        return Err((SAME.into(), Some(bytes)));
    }
    follow_pointer(importer, channel, &bytes)
        .await
        .map_err(|e| (e, Some(bytes)))
}

/// What a pointer that failed before reports while it stays unchanged.
const SAME: &str = "unchanged since it failed";

async fn follow_pointer(
    importer: &crate::master_data::import::Importer,
    channel: channels::Channel,
    bytes: &[u8],
) -> Result<(), String> {
    use crate::master_data::import::Outcome;
    let pointer: Pointer = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
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
            .get_limited(&pointer.store_key, importer.limits.max_bytes as u64)
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
        .map_err(|e| e.to_string())?;
    tracing::info!(channel = channel.as_str(), version = %pointer.version, "following the store: channel moved");
    Ok(())
}
