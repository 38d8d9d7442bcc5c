//! The environment variables each command reads, shown under its `--help`
//! (docs/src/configuration.md, "Configuration" has the meanings and defaults).

pub const TOP: &str = "\
Environment (docs/src/configuration.md has each; a sceneflow.toml may set the same keys):
  DATABASE_URL, SCENEFLOW_BIND, SCENEFLOW_STORE, SCENEFLOW_JWT_SECRET, SCENEFLOW_ENV,
  SCENEFLOW_DEBUG, SCENEFLOW_SAMPLE, SCENEFLOW_MAX_UPLOAD_MB, SCENEFLOW_DB_POOL_SIZE,
  SCENEFLOW_WORKERS, SCENEFLOW_LOG_FORMAT, SCENEFLOW_SELF_APPROVAL, SCENEFLOW_FOLLOW,
  SCENEFLOW_ALERT_WEBHOOK, SCENEFLOW_PAGERDUTY_ROUTING_KEY, SCENEFLOW_PAGERDUTY_URL,
  SCENEFLOW_ALERT_CLIENT_ERRORS_PER_MINUTE, SCENEFLOW_BODY_TIMEOUT_SECS,
  SCENEFLOW_MAX_CONNECTIONS, SCENEFLOW_MAX_CONNECTIONS_PER_CLIENT,
  SCENEFLOW_SIGN_IN_PER_MINUTE, SCENEFLOW_EVENTS_SINK, SCENEFLOW_EVENTS_RETENTION_DAYS,
  SCENEFLOW_ANALYTICS_INTERVAL_MS, SCENEFLOW_RUN_CACHE_SIZE, SCENEFLOW_RUN_CACHE_BYTES,
  SCENEFLOW_FLOW_CACHE_BYTES, SCENEFLOW_GROUP_COMMIT_US, SCENEFLOW_BUNDLE_KEY,
  SCENEFLOW_ROLLOUT_CHECK_MS, SCENEFLOW_ROLLOUT_AUTO_ABORT,
  SCENEFLOW_CONFIG, RUST_LOG, AWS_*.
Each command's --help lists the ones it reads.";

pub const SERVE: &str = "\
Environment: every setting of docs/src/configuration.md:
  DATABASE_URL       sqlite://PATH or postgres://… (default sqlite://sceneflow.db; created if missing)
  SCENEFLOW_BIND     listen address (default 127.0.0.1:8080)
  SCENEFLOW_STORE    file://DIR or s3://BUCKET/PREFIX (default file://master_data/store)
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL  for s3:// stores
  SCENEFLOW_JWT_SECRET, SCENEFLOW_ENV, SCENEFLOW_DEBUG, SCENEFLOW_SAMPLE,
  SCENEFLOW_MAX_UPLOAD_MB, SCENEFLOW_DB_POOL_SIZE, SCENEFLOW_WORKERS,
  SCENEFLOW_SELF_APPROVAL, SCENEFLOW_FOLLOW, SCENEFLOW_ALERT_WEBHOOK,
  SCENEFLOW_PAGERDUTY_ROUTING_KEY, SCENEFLOW_PAGERDUTY_URL,
  SCENEFLOW_ALERT_CLIENT_ERRORS_PER_MINUTE, SCENEFLOW_BODY_TIMEOUT_SECS,
  SCENEFLOW_MAX_CONNECTIONS, SCENEFLOW_MAX_CONNECTIONS_PER_CLIENT,
  SCENEFLOW_SIGN_IN_PER_MINUTE, SCENEFLOW_EVENTS_SINK, SCENEFLOW_EVENTS_RETENTION_DAYS,
  SCENEFLOW_ANALYTICS_INTERVAL_MS, SCENEFLOW_RUN_CACHE_SIZE, SCENEFLOW_RUN_CACHE_BYTES,
  SCENEFLOW_FLOW_CACHE_BYTES, SCENEFLOW_GROUP_COMMIT_US, SCENEFLOW_BUNDLE_KEY,
  SCENEFLOW_ROLLOUT_CHECK_MS, SCENEFLOW_ROLLOUT_AUTO_ABORT
  SCENEFLOW_LOG_FORMAT  text or json;  RUST_LOG  log level (default info)
  SCENEFLOW_CONFIG   a sceneflow.toml with the same keys";

pub const VALIDATE: &str = "Environment: none (the file is checked on its own).";

pub const IMPORT: &str = "\
Environment:
  DATABASE_URL       the existing database (default sqlite://sceneflow.db; never created here)
  SCENEFLOW_STORE    where the workbook is stored (default file://master_data/store)
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL  for s3:// stores
  SCENEFLOW_MAX_UPLOAD_MB  workbook size limit (default 20)
  USER               recorded as the uploader (cli:USER)
  SCENEFLOW_CONFIG, SCENEFLOW_LOG_FORMAT, RUST_LOG";

pub const EXPORT: &str = "\
Environment:
  DATABASE_URL       the existing database (default sqlite://sceneflow.db; never created here)
  SCENEFLOW_CONFIG, SCENEFLOW_LOG_FORMAT, RUST_LOG";

pub const TOKEN: &str = "\
Environment:
  SCENEFLOW_JWT_SECRET  the secret the server verifies mobile tokens with
  SCENEFLOW_CONFIG";

pub const ADMIN_TOKEN: &str = "\
Environment:
  DATABASE_URL       the server's existing database (default sqlite://sceneflow.db; never created here)
  USER               recorded in the audit log (cli:USER)
  SCENEFLOW_CONFIG, SCENEFLOW_LOG_FORMAT, RUST_LOG";

pub const USER: &str = "\
Environment:
  DATABASE_URL       the server's existing database (default sqlite://sceneflow.db; never created here)
  SCENEFLOW_PASSWORD the password for `add` and `passwd` (else a prompt on a terminal, else stdin's first line)
  USER               recorded in the audit log (cli:USER)
  SCENEFLOW_CONFIG, SCENEFLOW_LOG_FORMAT, RUST_LOG";

pub const MIGRATE: &str = "\
Environment:
  DATABASE_URL       the database to create or bring up to date (default sqlite://sceneflow.db)
  SCENEFLOW_CONFIG, SCENEFLOW_LOG_FORMAT, RUST_LOG";

pub const ANALYTICS: &str = "\
Environment:
  DATABASE_URL       the existing database (default sqlite://sceneflow.db; never created here)
  SCENEFLOW_CONFIG, SCENEFLOW_LOG_FORMAT, RUST_LOG";

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// `serve --help` and the top help name every setting the settings read
    /// (src/config.rs), and the book's configuration table
    /// (`docs/src/configuration.md`) has each: a setting added in one place
    /// is missed in none.
    #[test]
    fn every_setting_is_in_the_help_and_the_book() {
        let config = include_str!("../config.rs");
        let page = include_str!("../../docs/src/configuration.md");
        let table = &page[page.find("\n## Configuration").unwrap()..];
        let table = &table[..table[1..].find("\n## ").unwrap()];
        let mut names: Vec<&str> = config
            .match_indices("\"SCENEFLOW_")
            .map(|(at, _)| {
                let rest = &config[at + 1..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_uppercase() || c == '_'))
                    .unwrap_or(rest.len());
                &rest[..end]
            })
            .collect();
        names.sort_unstable();
        names.dedup();
        assert!(names.len() > 25, "{names:?}");
        for name in names {
            assert!(super::SERVE.contains(name), "serve --help lacks {name}");
            assert!(super::TOP.contains(name), "--help lacks {name}");
            assert!(
                table.contains(&format!("`{name}`")),
                "docs/src/configuration.md lacks {name}"
            );
        }
    }

    /// Every command says which environment variables it reads, and every
    /// argument says what it is.
    #[test]
    fn every_command_lists_its_environment_and_describes_its_arguments() {
        fn walk(cmd: &clap::Command, path: &str) {
            let path = format!("{path} {}", cmd.get_name());
            // clap's own `help` subcommand (and its mirror of the tree) is not ours.
            if cmd.get_name() == "help" {
                return;
            }
            {
                let after = cmd
                    .get_after_help()
                    .map(|h| h.to_string())
                    .unwrap_or_default();
                assert!(
                    after.contains("Environment"),
                    "{path}: no environment in --help"
                );
                assert!(cmd.get_about().is_some(), "{path}: no description");
                for arg in cmd.get_arguments() {
                    assert!(
                        arg.get_help().is_some(),
                        "{path}: argument {} has no description",
                        arg.get_id()
                    );
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &path);
            }
        }
        let mut cli = super::super::Cli::command();
        cli.build();
        walk(&cli, "");
    }
}
