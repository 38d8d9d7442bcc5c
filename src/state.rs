//! The application state every request handler shares, and how it is
//! connected: database, object store, importer, release pipeline, run
//! service (docs/src/architecture.md). Handlers import it from here; startup
//! builds the server around it.

use crate::alerts::Alerts;
use crate::background::Background;
use crate::config::Settings;
use crate::master_data::import::{ImportError, Importer, Outcome};
use crate::master_data::{self, Limits};
use crate::metrics::Metrics;
use crate::onboarding::Onboarding;
use crate::release::{ReleaseError, Releases};
use crate::storage::{Storage, StorageError};
use crate::store::{Db, StoreError, versions};

/// Everything a request handler may need; cheap to clone.
pub struct AppState {
    pub settings: Settings,
    pub db: Db,
    pub storage: Storage,
    pub importer: Importer,
    pub onboarding: Onboarding,
    pub releases: Releases,
    pub metrics: Metrics,
    pub alerts: Alerts,
    pub sign_in: crate::throttle::SignInGuard,
    /// The instance's background work, stopped at shutdown.
    pub background: Background,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error("the built-in sample workbook is invalid: {0}")]
    Sample(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// The importer and the release pipeline over `db` and `storage`: the
/// server's, and the CLI's (`import`, with alerts disabled).
pub fn pipeline(
    settings: &Settings,
    db: &Db,
    storage: &Storage,
    metrics: &Metrics,
    alerts: &Alerts,
) -> (Importer, Releases) {
    let importer = Importer {
        db: db.clone(),
        storage: storage.clone(),
        limits: Limits {
            max_bytes: settings.max_upload_bytes,
            ..Limits::default()
        },
        metrics: metrics.clone(),
        alerts: alerts.clone(),
        writing: Default::default(),
    };
    let releases = Releases {
        db: db.clone(),
        storage: storage.clone(),
        allow_self_approval: settings.allow_self_approval,
        alerts: alerts.clone(),
    };
    (importer, releases)
}

impl AppState {
    /// Connect to the database (running migrations) and the object store.
    pub async fn connect(settings: Settings) -> Result<AppState, StartupError> {
        let db = Db::new(&settings.database_url, settings.db_pool_size)?;
        let migrating = db.clone();
        tokio::task::spawn_blocking(move || migrating.migrate())
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))??;
        let storage = Storage::from_url(&settings.store, &settings.s3).await?;
        let metrics = Metrics::new();
        let background = Background::new();
        let alerts = Alerts::start(&settings.alerts, &background);
        let (importer, releases) = pipeline(&settings, &db, &storage, &metrics, &alerts);
        let onboarding =
            Onboarding::with_settings(db.clone(), metrics.clone(), settings.answers, &background);
        let sign_in = crate::throttle::SignInGuard::new(settings.sign_in_per_ip_per_minute);
        Ok(AppState {
            background,
            sign_in,
            metrics,
            alerts,
            releases,
            onboarding,
            settings,
            db,
            storage,
            importer,
        })
    }

    /// On a database with no version, import the built-in sample and point
    /// both channels at it. Safe when several instances start at once.
    pub async fn load_sample_if_empty(&self) -> Result<(), StartupError> {
        if self.db.run(versions::count).await? > 0 {
            return Ok(());
        }
        let outcome = self
            .importer
            .import(
                master_data::SAMPLE_WORKBOOK.to_vec(),
                Some(master_data::SAMPLE_FILE_NAME.into()),
                "system",
            )
            .await?;
        let version = match outcome {
            Outcome::Created { version, .. } | Outcome::Existing { version, .. } => version,
            Outcome::Invalid { report } => return Err(StartupError::Sample(report.render_text())),
        };
        self.releases
            .seed_sample(&version.id)
            .await
            .map_err(|e| match e {
                ReleaseError::Store(e) => StartupError::Store(e),
                ReleaseError::Storage(e) => StartupError::Storage(e),
                other => StartupError::Sample(other.to_string()),
            })?;
        tracing::info!(version = %version.id, "sample workbook loaded on staging and production");
        Ok(())
    }
}
