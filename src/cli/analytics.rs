//! `sceneflow analytics rebuild|generate|status` (docs/src/analytics.md "Analytics at
//! scale", "The warehouse sink").

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Instant;

use clap::Subcommand;

use crate::analytics::{generate, rebuild};
use crate::config::Settings;
use crate::store::{channels, versions};

#[derive(Subcommand)]
pub enum AnalyticsCommand {
    /// Where the aggregator and the events sink stand: last event taken,
    /// events behind, when each last moved, the next event's time.
    #[command(after_help = super::help::ANALYTICS)]
    Status {
        /// text for people, json for programs.
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        format: String,
    },
    /// Recompute the aggregates from the event log (all versions, or one),
    /// in bounded memory, while the service keeps running.
    #[command(after_help = super::help::ANALYTICS)]
    Rebuild {
        /// Rebuild only this version's aggregates; default: all versions.
        #[arg(long)]
        version: Option<String>,
    },
    /// Write N users' worth of realistic runs and events into the database.
    #[command(after_help = super::help::ANALYTICS)]
    Generate {
        /// How many users to simulate.
        #[arg(long)]
        users: u64,
        /// The version to play; default: the one live on the channel.
        #[arg(long)]
        version: Option<String>,
        /// The channel the runs are recorded on.
        #[arg(long, default_value = "production", value_parser = ["staging", "production"])]
        channel: String,
        /// Number the users from here (to add to an earlier log).
        #[arg(long, default_value_t = 0)]
        first_user: u64,
        /// Spread the runs over this many days before now.
        #[arg(long, default_value_t = 30)]
        days: i64,
        /// Seed of the random choices, so a log can be made again.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Also write outcome events: app opens on day 1 and 7, subscriptions
        /// and purchases, about 3.3 a user.
        #[arg(long)]
        outcomes: bool,
    },
}

/// A one-line progress bar on standard error, redrawn at most ten times a second.
struct Bar {
    label: &'static str,
    started: Instant,
    drawn: Option<Instant>,
    tty: bool,
}

impl Bar {
    fn new(label: &'static str) -> Bar {
        Bar {
            label,
            started: Instant::now(),
            drawn: None,
            tty: std::io::stderr().is_terminal(),
        }
    }

    fn draw(&mut self, done: u64, total: u64, unit: &str) {
        let finished = done >= total;
        if !finished && self.drawn.is_some_and(|t| t.elapsed().as_millis() < 100) {
            return;
        }
        self.drawn = Some(Instant::now());
        let share = if total == 0 {
            1.0
        } else {
            done as f64 / total as f64
        };
        let filled = (share * 30.0).round() as usize;
        let rate = done as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
        let line = format!(
            "{} [{}{}] {:>5.1} % {done}/{total} {unit} ({rate:.0} {unit}/s)",
            self.label,
            "#".repeat(filled),
            ".".repeat(30 - filled),
            share * 100.0
        );
        let mut err = std::io::stderr();
        if self.tty {
            let _ = write!(err, "\r{line}");
            if finished {
                let _ = writeln!(err);
            }
        } else if finished {
            let _ = writeln!(err, "{line}");
        }
    }
}

pub async fn run(command: AnalyticsCommand, settings: Settings) -> Result<ExitCode, String> {
    let db = super::database::open(&settings).await?;
    match command {
        AnalyticsCommand::Status { format } => {
            let progress = db
                .run(crate::analytics::sink::status)
                .await
                .map_err(|e| e.to_string())?;
            let now = crate::store::now();
            if format == "json" {
                let body = serde_json::json!({"as_of": now, "consumers": progress});
                println!("{body}");
                return Ok(ExitCode::SUCCESS);
            }
            if progress.is_empty() {
                println!("neither the aggregator nor the events sink has started");
            }
            for p in progress {
                let behind = p.next_event_at.map_or("nothing to take".to_owned(), |at| {
                    format!(
                        "next event from {} ({} s ago)",
                        at.format("%Y-%m-%d %H:%M:%S"),
                        (now - at).num_seconds().max(0)
                    )
                });
                println!(
                    "{:<10} at event {}, {} behind; checked {} s ago; {behind}{}",
                    p.consumer,
                    p.last_id,
                    p.pending,
                    (now - p.checked_at).num_seconds().max(0),
                    p.planned_until
                        .map_or(String::new(), |u| format!("; part up to {u} planned"))
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        AnalyticsCommand::Rebuild { version } => {
            if let Some(v) = &version {
                let lookup = v.clone();
                if db
                    .run(move |c| versions::find(c, &lookup))
                    .await
                    .map_err(|e| e.to_string())?
                    .is_none()
                {
                    return Err(format!("there is no version '{v}'"));
                }
            }
            let started = Instant::now();
            db.run(move |c| {
                let mut bar = Bar::new("rebuild");
                rebuild::rebuild(c, version.as_deref(), |p| {
                    bar.draw(p.done.max(0) as u64, p.until.max(0) as u64, "ids")
                })
            })
            .await
            .map_err(|e| e.to_string())?;
            println!(
                "aggregates rebuilt in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        AnalyticsCommand::Generate {
            users,
            version,
            channel,
            first_user,
            days,
            seed,
            outcomes,
        } => {
            let flows = crate::store::FlowCache::default();
            let channel = channels::Channel::parse(&channel).ok_or("unknown channel")?;
            let started = Instant::now();
            let written = db
                .run(move |c| {
                    let version = match version {
                        Some(v) => v,
                        None => channels::get(c, channel)?
                            .map(|r| r.version_id)
                            .ok_or_else(|| {
                                crate::store::StoreError::Corrupt(format!(
                                    "no version is live on {channel}: import one, or pass --version"
                                ))
                            })?,
                    };
                    let flow = flows.get(c, &version)?;
                    let plan = generate::Plan {
                        version,
                        channel,
                        users,
                        first_user,
                        days,
                        end: crate::store::now(),
                        seed,
                        outcomes,
                    };
                    let mut bar = Bar::new("generate");
                    generate::generate(c, &flow, &plan, 1000, |done| bar.draw(done, users, "users"))
                })
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "{users} users, {written} events written in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
