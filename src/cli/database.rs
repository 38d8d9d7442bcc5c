//! Which database a command opens. Only `serve` and `migrate` may create
//! one: anything else run from the wrong directory would silently get a new,
//! empty SQLite file (and, say, an admin token the server never sees).

use std::path::PathBuf;

use crate::config::Settings;
use crate::store::Db;

/// The SQLite file `url` names, made absolute; `None` for PostgreSQL (a
/// server never creates a missing PostgreSQL database) and for URLs the
/// connection itself will refuse.
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    if path.is_empty() {
        return None;
    }
    let path = PathBuf::from(path);
    Some(if path.is_absolute() {
        path
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    })
}

/// Refuse when the configured SQLite database does not exist yet.
pub fn require_existing(url: &str) -> Result<(), String> {
    match sqlite_path(url) {
        Some(path) if !path.exists() => Err(format!(
            "no database at {} (DATABASE_URL={url}); this command does not create one. \
             Run it in the directory where `sceneflow serve` runs, or set DATABASE_URL to \
             that database (`sceneflow migrate` creates a new, empty one)",
            path.display()
        )),
        _ => Ok(()),
    }
}

/// A small pool on the existing database, migrated: for commands that do
/// not need the server's other parts.
pub async fn open(settings: &Settings) -> Result<Db, String> {
    require_existing(&settings.database_url)?;
    migrated(settings).await
}

/// A small pool, migrated; a missing SQLite file is created (`migrate`).
pub async fn migrated(settings: &Settings) -> Result<Db, String> {
    let db = Db::new(&settings.database_url, 2).map_err(|e| e.to_string())?;
    let migrating = db.clone();
    tokio::task::spawn_blocking(move || migrating.migrate())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    Ok(db)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_missing_sqlite_files_are_refused() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path();
        let missing = format!("sqlite://{}/none.db", dir.display());
        let message = require_existing(&missing).unwrap_err();
        assert!(
            message.contains(&format!("{}/none.db", dir.display())),
            "{message}"
        );
        std::fs::write(dir.join("there.db"), b"").unwrap();
        assert!(require_existing(&format!("sqlite:{}/there.db", dir.display())).is_ok());
        assert!(require_existing("postgres://u:p@localhost/db").is_ok());
        let relative = sqlite_path("sqlite://x/sceneflow.db").unwrap();
        assert!(relative.is_absolute() && relative.ends_with("x/sceneflow.db"));
    }
}
