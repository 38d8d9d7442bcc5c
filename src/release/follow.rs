//! `SCENEFLOW_FOLLOW=store`: a deployment that serves whatever the shared
//! store's channel pointers name.

use super::{Pointer, pointer_key, pointers};
use crate::store::{channels, versions};

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
        for (i, channel) in channels::Channel::ALL.into_iter().enumerate() {
            match follow_once(&importer, channel).await {
                Ok(()) => last_failure[i] = None,
                Err(e) => {
                    tracing::warn!(channel = channel.as_str(), error = %e, "could not follow the store's channel pointer");
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
    channel: channels::Channel,
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
        .run(move |c| pointers::set(c, channel, &v, "follow:store", "follow"))
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(channel = channel.as_str(), version = %pointer.version, "following the store: channel moved");
    Ok(())
}
