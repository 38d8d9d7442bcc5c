//! The `sceneflow` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::auth::{self, Role};
use crate::config::Settings;
use crate::master_data::import::Outcome;
use crate::master_data::{self, Limits, export};
use crate::startup::{AppState, Application};
use crate::store::{channels, versions};

#[derive(Parser)]
#[command(
    name = "sceneflow",
    version,
    about = "Chat-style onboarding flows for mobile apps, authored as spreadsheets"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Clone, Copy, ValueEnum)]
enum OutputFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and dashboard (the default).
    Serve,
    /// Check a workbook and print every problem. Exit 0 valid, 1 invalid, 2 unreadable.
    Validate {
        file: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: OutputFormat,
    },
    /// Import a workbook as a new version.
    Import {
        file: PathBuf,
        /// Also point this channel at the version (only staging: production needs QA approval).
        #[arg(long, value_parser = ["staging"])]
        deploy: Option<String>,
    },
    /// Write the master data live on a channel back as a workbook.
    Export {
        #[arg(long, value_parser = ["staging", "production"])]
        channel: String,
        file: PathBuf,
    },
    /// Print a new admin API token.
    AdminToken {
        #[arg(long, value_enum)]
        role: Role,
        #[arg(long)]
        name: String,
        /// Days until the token expires.
        #[arg(long, default_value_t = 90)]
        days: u32,
    },
    /// Print a mobile API token (JWT) for a user id, signed with this configuration's secret.
    Token {
        user_id: String,
        /// Days until the token expires.
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
    /// Manage dashboard users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Run database migrations and exit.
    Migrate,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a dashboard user, or set the role and password of an existing one.
    /// The password comes from SCENEFLOW_PASSWORD, or is asked for.
    Add {
        name: String,
        #[arg(long, value_enum)]
        role: Role,
    },
}

fn read_password() -> Result<String, String> {
    if let Ok(p) = std::env::var("SCENEFLOW_PASSWORD") {
        return Ok(p);
    }
    let first = rpassword::prompt_password("Password: ").map_err(|e| e.to_string())?;
    let again = rpassword::prompt_password("Again: ").map_err(|e| e.to_string())?;
    if first != again {
        return Err("the passwords differ".into());
    }
    Ok(first)
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
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
                    "{} steps, {} scenes, {} choices",
                    flow.steps.len(),
                    flow.scenes.len(),
                    flow.choices.len()
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
    match command {
        Command::Serve => serve(settings).await,
        Command::Validate { file, format } => Ok(validate(&file, format)),
        Command::Token { .. } => unreachable!("handled before the runtime starts"),
        Command::Migrate => {
            AppState::connect(settings)
                .await
                .map_err(|e| e.to_string())?;
            println!("migrations are up to date");
            Ok(ExitCode::SUCCESS)
        }
        Command::AdminToken { role, name, days } => {
            let state = AppState::connect(settings)
                .await
                .map_err(|e| e.to_string())?;
            let token = state
                .db
                .run(move |c| auth::mint_admin_token(c, &name, role, days))
                .await
                .map_err(|e| e.to_string())?;
            println!("{token}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Import { file, deploy } => {
            let bytes =
                std::fs::read(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let state = AppState::connect(settings)
                .await
                .map_err(|e| e.to_string())?;
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
            let actor = std::env::var("USER")
                .map(|u| format!("cli:{u}"))
                .unwrap_or_else(|_| "cli".into());
            let outcome = state
                .importer
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
                "{} version {} ({} steps, {} scenes, {} choices, {} warnings)",
                if fresh {
                    "imported"
                } else {
                    "already imported:"
                },
                version.id,
                version.step_count,
                version.scene_count,
                version.choice_count,
                report.warnings.len()
            );
            if let Some(channel) = deploy {
                // Through the release pipeline, so the store's pointer moves too.
                let channel = channels::Channel::parse(&channel).ok_or("unknown channel")?;
                state
                    .releases
                    .point(channel, &version.id, &actor)
                    .await
                    .map_err(|e| e.to_string())?;
                println!("staging now serves {}", version.id);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::User {
            command: UserCommand::Add { name, role },
        } => {
            let password = read_password()?;
            if password.chars().count() < 8 {
                return Err("the password needs at least 8 characters".into());
            }
            let name = name.trim().to_owned();
            if name.is_empty() || name.len() > 64 {
                return Err("the user name needs 1 to 64 characters".into());
            }
            let state = AppState::connect(settings)
                .await
                .map_err(|e| e.to_string())?;
            let who = name.clone();
            state
                .db
                .run(move |c| crate::dashboard::session::add_user(c, &who, role, &password))
                .await
                .map_err(|e| e.to_string())?;
            println!("{name} can sign in to the dashboard as {role}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Export { channel, file } => {
            let state = AppState::connect(settings)
                .await
                .map_err(|e| e.to_string())?;
            let lookup = channel.clone();
            let flow = state
                .db
                .run(move |c| match channels::get(c, &lookup)? {
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
