//! The `sceneflow` command line.

mod database;
mod help;
mod people;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::auth;
use crate::config::Settings;
use crate::master_data::import::Outcome;
use crate::master_data::{self, Limits, export};
use crate::startup::Application;
use crate::storage::Storage;
use crate::store::{channels, versions};
use crate::text::counted;

mod analytics;

#[derive(Parser)]
#[command(
    name = "sceneflow",
    version,
    about = "Chat-style onboarding flows for mobile apps, authored as spreadsheets",
    after_help = help::TOP
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Clone, Copy, ValueEnum)]
enum OutputFormat {
    /// Problems grouped by sheet, for people.
    Text,
    /// The validation report as JSON, for programs.
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and dashboard (the default); creates the database if missing.
    #[command(after_help = help::SERVE)]
    Serve,
    /// Check a workbook and print every problem. Exit 0 valid, 1 invalid, 2 unreadable.
    #[command(after_help = help::VALIDATE)]
    Validate {
        /// The workbook: .xlsx, .xls or .ods.
        file: PathBuf,
        /// How to print the report.
        #[arg(long, value_enum, default_value = "text")]
        format: OutputFormat,
    },
    /// Import a workbook as a new version into the existing database.
    #[command(after_help = help::IMPORT)]
    Import {
        /// The workbook: .xlsx, .xls or .ods.
        file: PathBuf,
        /// Also point this channel at the version (only staging: production needs QA approval).
        #[arg(long, value_parser = ["staging"])]
        deploy: Option<String>,
    },
    /// Write the master data live on a channel back as a workbook.
    #[command(after_help = help::EXPORT)]
    Export {
        /// The channel whose version to write.
        #[arg(long, value_parser = ["staging", "production"])]
        channel: String,
        /// Where to write the .xlsx file.
        file: PathBuf,
    },
    /// Print a new admin API token (--role, --name), or list and revoke tokens.
    #[command(after_help = help::ADMIN_TOKEN)]
    AdminToken(people::AdminTokenArgs),
    /// Print a mobile API token (JWT) for a user id, signed with this configuration's secret.
    #[command(after_help = help::TOKEN)]
    Token {
        /// The mobile user's id (the token's `sub`), 1 to 255 bytes.
        user_id: String,
        /// Days until the token expires.
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
    /// Manage dashboard users: add, list, remove, passwd.
    #[command(after_help = help::USER)]
    User {
        #[command(subcommand)]
        command: people::UserCommand,
    },
    /// Create the database if missing, run its migrations, and exit.
    #[command(after_help = help::MIGRATE)]
    Migrate,
    /// Rebuild the analytics aggregates, or generate a big event log.
    #[command(after_help = help::ANALYTICS)]
    Analytics {
        #[command(subcommand)]
        command: analytics::AnalyticsCommand,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    if !matches!(command, Command::Serve) {
        // A command's output piped into `head` ends quietly, as a Unix
        // tool's does, instead of panicking on the closed pipe (the server
        // keeps Rust's default: a closed socket is an error to handle).
        // SAFETY: restoring a signal's default disposition before any
        // thread starts.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    if let Command::Validate { file, format } = &command {
        return validate(file, *format);
    }
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: configuration: {e}");
            return ExitCode::from(2);
        }
    };
    if let Command::Token { user_id, days } = &command {
        println!(
            "{}",
            auth::mint_user_token(&settings.jwt_secret, user_id, *days)
        );
        return ExitCode::SUCCESS;
    }
    let level = if matches!(command, Command::Serve) {
        "info"
    } else {
        "warn"
    };
    crate::telemetry::init(settings.log_format, level);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let result = runtime.block_on(run(command, settings));
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn validate(file: &Path, format: OutputFormat) -> ExitCode {
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    let (_, validated) = master_data::check(&bytes, &Limits::default());
    let report = validated.report;
    match format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("reports serialise")
        ),
        OutputFormat::Text => {
            println!("{}", file.display());
            print!("{}", report.render_text());
            if let Some(flow) = &validated.flow {
                println!(
                    "{}, {}, {}",
                    counted(flow.steps.len() as i64, "step"),
                    counted(flow.scenes.len() as i64, "scene"),
                    counted(flow.choices.len() as i64, "choice")
                );
            }
        }
    }
    if report.is_unreadable() {
        ExitCode::from(2)
    } else if report.valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

async fn run(command: Command, settings: Settings) -> Result<ExitCode, String> {
    if !matches!(command, Command::Serve | Command::Migrate) {
        database::require_existing(&settings.database_url)?;
    }
    match command {
        Command::Serve => serve(settings).await,
        Command::Analytics { command } => analytics::run(command, settings).await,
        Command::Validate { file, format } => Ok(validate(&file, format)),
        Command::Token { .. } => unreachable!("handled before the runtime starts"),
        Command::Migrate => {
            database::migrated(&settings).await?;
            println!("migrations are up to date");
            Ok(ExitCode::SUCCESS)
        }
        Command::AdminToken(args) => people::admin_token(args, &settings).await,
        Command::Import { file, deploy } => {
            let bytes =
                std::fs::read(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            // A small pool and the import and release pipeline, not the
            // server: no alert sender (the command exits before it could
            // deliver), no background tasks.
            let db = database::open(&settings).await?;
            let storage = Storage::from_url(&settings.store, &settings.s3)
                .await
                .map_err(|e| e.to_string())?;
            let (importer, releases) = crate::state::pipeline(
                &settings,
                &db,
                &storage,
                &crate::metrics::Metrics::new(),
                &crate::alerts::Alerts::disabled(),
            );
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
            let actor = std::env::var("USER")
                .map(|u| format!("cli:{u}"))
                .unwrap_or_else(|_| "cli".into());
            let outcome = importer
                .import(bytes, name, &actor)
                .await
                .map_err(|e| e.to_string())?;
            let (version, report, fresh) = match outcome {
                Outcome::Created { version, report } => (version, report, true),
                Outcome::Existing { version, report } => (version, report, false),
                Outcome::Invalid { report } => {
                    eprint!("{}", report.render_text());
                    return Ok(ExitCode::from(if report.is_unreadable() { 2 } else { 1 }));
                }
            };
            println!(
                "{} version {} ({}, {}, {}, {})",
                if fresh {
                    "imported"
                } else {
                    "already imported:"
                },
                version.id,
                counted(version.step_count, "step"),
                counted(version.scene_count, "scene"),
                counted(version.choice_count, "choice"),
                counted(report.warnings.len() as i64, "warning")
            );
            if let Some(channel) = deploy {
                // Through the release pipeline, so the store's pointer moves too.
                let channel = channels::Channel::parse(&channel).ok_or("unknown channel")?;
                releases
                    .point(channel, &version.id, &actor)
                    .await
                    .map_err(|e| e.to_string())?;
                println!("staging now serves {}", version.id);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::User { command } => people::user(command, &settings).await,
        Command::Export { channel, file } => {
            let db = database::open(&settings).await?;
            let lookup = channels::Channel::parse(&channel).ok_or("unknown channel")?;
            let flow = db
                .run(move |c| match channels::get(c, lookup)? {
                    Some(ch) => {
                        versions::load_flow(c, &ch.version_id).map(|f| Some((ch.version_id, f)))
                    }
                    None => Ok(None),
                })
                .await
                .map_err(|e| e.to_string())?;
            let Some((id, flow)) = flow else {
                return Err(format!("no version is on the {channel} channel"));
            };
            let bytes = export::to_xlsx(&flow).map_err(|e| e.to_string())?;
            std::fs::write(&file, bytes)
                .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
            println!("wrote version {id} ({channel}) to {}", file.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn serve(settings: Settings) -> Result<ExitCode, String> {
    let summary = format!(
        "database {}, store {}",
        redact(&settings.database_url),
        settings.store
    );
    let app = Application::build(settings.clone())
        .await
        .map_err(|e| e.to_string())?;
    let host = settings
        .bind
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or("127.0.0.1");
    let base = format!("http://{host}:{}", app.port());
    tracing::info!("sceneflow is serving on {base} ({summary})");
    tracing::info!(
        "dashboard: {base}/admin (users: sceneflow user add NAME --role admin) · admin API: {base}/admin/api · health: {base}/healthz, {base}/readyz"
    );
    tracing::info!("mobile API: {base}/v1/onboarding/start · OpenAPI: {base}/openapi.json");
    tracing::info!(
        "tokens: `sceneflow token USER_ID` (mobile), `sceneflow admin-token --role admin --name you` (admin)"
    );
    app.run_until_stopped().await.map_err(|e| e.to_string())?;
    tracing::info!("sceneflow stopped");
    Ok(ExitCode::SUCCESS)
}

/// A database URL without its password, for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..s + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}
