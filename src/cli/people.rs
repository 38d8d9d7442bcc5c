//! `sceneflow user …` and `sceneflow admin-token …`: dashboard users and
//! admin API tokens (docs/src/release.md, "People and tokens").

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::{database, help};
use crate::auth::Role;
use crate::config::Settings;
use crate::people;

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a dashboard user; an existing name is refused unless --reset-password.
    #[command(after_help = help::USER)]
    Add {
        /// The sign-in name, 1 to 64 characters.
        name: String,
        /// What the user may do (each role includes the ones before it).
        #[arg(long, value_enum)]
        role: Role,
        /// Replace the role and password of an existing user (their sessions end).
        #[arg(long)]
        reset_password: bool,
    },
    /// List the dashboard users and their roles.
    #[command(after_help = help::USER)]
    List,
    /// Remove a dashboard user; their sessions end at once.
    #[command(after_help = help::USER)]
    Remove {
        /// The user's sign-in name.
        name: String,
    },
    /// Set a new password for a user; their sessions end.
    #[command(after_help = help::USER)]
    Passwd {
        /// The user's sign-in name.
        name: String,
    },
}

/// `admin-token --role ROLE --name NAME` prints a new token; `list` and
/// `revoke ID` manage the existing ones.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct AdminTokenArgs {
    #[command(subcommand)]
    command: Option<TokenCommand>,
    /// What the token may do (each role includes the ones before it).
    #[arg(long, value_enum, required = true)]
    role: Option<Role>,
    /// Whose token it is: the audit log shows it, and QA may not approve a
    /// version uploaded under the same name. One name per person.
    #[arg(long, required = true)]
    name: Option<String>,
    /// Days until the token expires.
    #[arg(long, default_value_t = 90)]
    days: u32,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// List admin tokens: id, name, role, created, expires (never the token itself).
    #[command(after_help = help::ADMIN_TOKEN)]
    List,
    /// Revoke a token by the id `admin-token list` shows; it stops working at once.
    #[command(after_help = help::ADMIN_TOKEN)]
    Revoke {
        /// The token's id: 12 hex digits, as `admin-token list` shows.
        id: String,
    },
}

fn actor() -> String {
    std::env::var("USER")
        .map(|u| format!("cli:{u}"))
        .unwrap_or_else(|_| "cli".into())
}

const NO_PASSWORD: &str = "no password given: there is no terminal to ask on, so set SCENEFLOW_PASSWORD or pipe the password on stdin (printf '%s\\n' \"$PASSWORD\" | sceneflow user …)";

/// The password from `SCENEFLOW_PASSWORD`, else asked twice on a terminal,
/// else the first line of stdin.
fn read_password() -> Result<String, String> {
    if let Ok(p) = std::env::var("SCENEFLOW_PASSWORD") {
        return Ok(p);
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let ask = |prompt: &str| {
            rpassword::prompt_password(prompt).map_err(|e| {
                format!("cannot read the password from the terminal ({e}); {NO_PASSWORD}")
            })
        };
        let first = ask("Password: ")?;
        if first != ask("Again: ")? {
            return Err("the passwords differ".into());
        }
        return Ok(first);
    }
    let mut line = String::new();
    let read = stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
    if read == 0 {
        return Err(NO_PASSWORD.into());
    }
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

pub async fn user(command: UserCommand, settings: &Settings) -> Result<ExitCode, String> {
    // Check what can be checked before asking for a password.
    if let UserCommand::Add { name, .. } = &command {
        people::check_name(name).map_err(|e| e.to_string())?;
    }
    database::require_existing(&settings.database_url)?;
    let password = match &command {
        UserCommand::Add { .. } | UserCommand::Passwd { .. } => {
            let p = read_password()?;
            people::check_password(&p).map_err(|e| e.to_string())?;
            Some(p)
        }
        _ => None,
    };
    let db = database::open(settings).await?;
    let actor = actor();
    let message = db
        .run_with(move |c| -> Result<String, people::PeopleError> {
            let password = password.unwrap_or_default();
            Ok(match command {
                UserCommand::Add {
                    name,
                    role,
                    reset_password,
                } => {
                    people::add_user(c, &actor, &name, role, &password, reset_password)?;
                    let name = name.trim();
                    if reset_password {
                        format!("{name} now signs in with the new password, as {role}")
                    } else {
                        format!("{name} can sign in to the dashboard as {role}")
                    }
                }
                UserCommand::List => {
                    let mut out = format!("{:<24} {:<9} {}", "NAME", "ROLE", "CREATED (UTC)");
                    for u in people::list_users(c)? {
                        out.push_str(&format!(
                            "\n{:<24} {:<9} {}",
                            u.name,
                            u.role,
                            u.created_at.format("%Y-%m-%d %H:%M")
                        ));
                    }
                    out
                }
                UserCommand::Remove { name } => {
                    people::remove_user(c, &actor, &name)?;
                    format!("removed {name}; their sessions ended")
                }
                UserCommand::Passwd { name } => {
                    people::set_password(c, &actor, &name, &password)?;
                    format!("{name} has a new password; their sessions ended")
                }
            })
        })
        .await
        .map_err(|e| e.to_string())?;
    println!("{message}");
    Ok(ExitCode::SUCCESS)
}

pub async fn admin_token(args: AdminTokenArgs, settings: &Settings) -> Result<ExitCode, String> {
    let db = database::open(settings).await?;
    let actor = actor();
    let message = db
        .run_with(move |c| -> Result<String, people::PeopleError> {
            Ok(match args.command {
                Some(TokenCommand::List) => {
                    let mut out = format!(
                        "{:<12}  {:<20} {:<9} {:<16}  {}",
                        "ID", "NAME", "ROLE", "CREATED (UTC)", "EXPIRES (UTC)"
                    );
                    for t in people::list_tokens(c)? {
                        let expires = t
                            .expires_at
                            .map(|e| e.format("%Y-%m-%d %H:%M").to_string())
                            .unwrap_or_else(|| "never".into());
                        out.push_str(&format!(
                            "\n{:<12}  {:<20} {:<9} {:<16}  {expires}{}",
                            t.id,
                            t.name,
                            t.role,
                            t.created_at.format("%Y-%m-%d %H:%M"),
                            if t.expired { " (expired)" } else { "" }
                        ));
                    }
                    out
                }
                Some(TokenCommand::Revoke { id }) => {
                    let t = people::revoke_token(c, &actor, &id)?;
                    format!(
                        "revoked {} ({}, {}); it no longer works",
                        t.id, t.name, t.role
                    )
                }
                None => {
                    // clap requires both when there is no subcommand.
                    let (Some(role), Some(name)) = (args.role, args.name) else {
                        unreachable!("clap requires --role and --name")
                    };
                    people::mint_token(c, &actor, &name, role, args.days)?
                }
            })
        })
        .await
        .map_err(|e| e.to_string())?;
    println!("{message}");
    Ok(ExitCode::SUCCESS)
}
