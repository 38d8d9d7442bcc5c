//! Import: validate, store the original bytes, then the content in one
//! transaction.
//!
//! Order matters for "nothing half-written": the bytes go to the object store
//! first under a content-addressed key (`versions/<sha256>.<ext>`), so a
//! retry writes the identical object and a failed database transaction
//! leaves at most an unreferenced object, never a version without its file.

use std::time::Instant;

use crate::auth::sha256_hex;
use crate::storage::{Storage, StorageError};
use crate::store::column::Json;
use crate::store::versions::{self, VersionRow};
use crate::store::{Db, StoreError};

use super::{Limits, Report};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

#[derive(Debug)]
pub enum Outcome {
    Created {
        version: VersionRow,
        report: Report,
    },
    /// Those exact bytes were imported before.
    Existing {
        version: VersionRow,
        report: Report,
    },
    Invalid {
        report: Report,
    },
}

#[derive(Clone)]
pub struct Importer {
    pub db: Db,
    pub storage: Storage,
    pub limits: Limits,
    pub metrics: crate::metrics::Metrics,
    pub alerts: crate::alerts::Alerts,
    /// Held while a version is written (docs/src/operations.md).
    pub writing: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl Importer {
    /// Validate and store a workbook; counts the outcome and alerts on failure.
    pub async fn import(
        &self,
        bytes: Vec<u8>,
        file_name: Option<String>,
        actor: &str,
    ) -> Result<Outcome, ImportError> {
        use crate::alerts::Severity;
        let name = file_name.clone().unwrap_or_else(|| "a workbook".into());
        let result = self.import_inner(bytes, file_name, actor).await;
        let outcome = match &result {
            Ok(Outcome::Created { .. }) => "created",
            Ok(Outcome::Existing { .. }) => "existing",
            Ok(Outcome::Invalid { report }) => {
                self.alerts.send(
                    Severity::Info,
                    crate::words::AlertKind::ImportRefused,
                    format!(
                        "{actor} uploaded {name}: refused with {} error(s)",
                        report.errors.len()
                    ),
                );
                "invalid"
            }
            Err(e) => {
                self.alerts.send(
                    Severity::Critical,
                    crate::words::AlertKind::ImportFailed,
                    format!("importing {name} for {actor} failed: {e}"),
                );
                "error"
            }
        };
        self.metrics.imports.with_label_values(&[outcome]).inc();
        result
    }

    async fn import_inner(
        &self,
        bytes: Vec<u8>,
        file_name: Option<String>,
        actor: &str,
    ) -> Result<Outcome, ImportError> {
        let started = Instant::now();
        let sha256 = sha256_hex(&bytes);
        let id = sha256[..12].to_owned();

        let lookup = sha256.clone();
        if let Some(version) = self
            .db
            .run(move |c| versions::find_by_sha(c, &lookup))
            .await?
        {
            let report = version.report.0.clone();
            return Ok(Outcome::Existing { version, report });
        }

        let limits = self.limits.clone();
        let (bytes, (format, validated)) = tokio::task::spawn_blocking(move || {
            let checked = super::check(&bytes, &limits);
            (bytes, checked)
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("validation task failed: {e}")))?;
        let (Some(format), Some(flow)) = (format, validated.flow) else {
            tracing::info!(version = %id, errors = validated.report.errors.len(), "workbook refused");
            return Ok(Outcome::Invalid {
                report: validated.report,
            });
        };
        let report = validated.report;

        let store_key = format!("versions/{sha256}.{}", format.extension());
        let size_bytes = bytes.len() as i64;
        self.storage
            .put(&store_key, bytes, format.content_type())
            .await?;

        let version = VersionRow {
            id: id.clone(),
            sha256: sha256.clone(),
            file_name: file_name.map(|n| n.chars().take(255).collect()),
            format: format.extension().to_owned(),
            store_key,
            size_bytes,
            uploaded_by: actor.to_owned(),
            created_at: crate::store::now(),
            report: Json(report.clone()),
            step_count: flow.steps.len() as i32,
            scene_count: flow.scenes.len() as i32,
            choice_count: flow.choices.len() as i32,
            warning_count: report.warnings.len() as i32,
        };
        let row = version.clone();
        let actor = actor.to_owned();
        // One import writes at a time per instance: on SQLite, concurrent
        // imports would take turns holding the write lock mobile answers need.
        let _writing = self.writing.lock().await;
        let flow = std::sync::Arc::new(flow);
        let insert = || {
            let (row, flow, actor) = (row.clone(), flow.clone(), actor.clone());
            self.db
                .run(move |c| versions::insert(c, &row, &flow, &actor))
        };
        let mut written = insert().await;
        // A busy SQLite (a mobile write holding the lock) is waited out briefly.
        let waiting = Instant::now();
        while written.as_ref().is_err_and(StoreError::is_contention)
            && waiting.elapsed() < std::time::Duration::from_secs(5)
        {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            written = insert().await;
        }
        match written {
            Ok(()) => {}
            // Another instance imported the same bytes at the same moment.
            Err(e) if e.is_unique_violation() => {
                if let Some(version) = self
                    .db
                    .run(move |c| versions::find_by_sha(c, &sha256))
                    .await?
                {
                    return Ok(Outcome::Existing { version, report });
                }
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(version = %id, elapsed_ms = started.elapsed().as_millis() as u64, "workbook imported");
        Ok(Outcome::Created { version, report })
    }
}
